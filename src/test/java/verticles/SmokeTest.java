package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import support.SharedAgent;

class SmokeTest {
  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

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
