package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import support.AgentProcess;

class SmokeTest {
  static AgentProcess agent;

  @BeforeAll
  static void start() throws Exception {
    agent = AgentProcess.start().awaitReady();
  }

  @AfterAll
  static void stop() throws Exception {
    agent.close();
  }

  @Test
  void pingOverBothTransports() throws Exception {
    for (String address : new String[] {agent.tcp(), agent.unix()}) {
      try (AgentConnection c = AgentConnection.open(address)) {
        JsonObject r = c.call(new JsonObject().put("id", "p1").put("type", "ping"));
        assertEquals(new JsonObject().put("id", "p1").put("exit_code", 0), r);
      }
    }
  }
}
