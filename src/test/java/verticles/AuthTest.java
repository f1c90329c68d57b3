package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ProtocolSupport.assertClosedByAgent;
import static verticles.ProtocolSupport.error;
import static verticles.ProtocolSupport.ok;
import static verticles.ProtocolSupport.req;
import static verticles.ProtocolSupport.run;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;

/** A TCP listener that others can reach needs a token, and then every request carries it. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AuthTest {
  private static final String TOKEN = "s3cret-token-\u00e9";

  @Test
  void nonLoopbackTcpWithoutATokenRefusesToStart(@TempDir Path dir) throws Exception {
    try (AgentProcess agent = AgentProcess.launch(dir, List.of("--listen", "tcp://0.0.0.0:0"),
        Map.of())) {
      assertEquals(2, agent.awaitExit(20));
      ProtocolSupport.eventually(5_000, "a message about the token", () -> agent.log().stream()
          .anyMatch(l -> l.contains("token") && l.contains("tcp://0.0.0.0:0")));
      assertTrue(agent.addresses().isEmpty(), () -> "listened anyway: " + agent.log());
    }
  }

  @Test
  void everyRequestMustCarryTheToken(@TempDir Path dir) throws Exception {
    try (AgentProcess agent = AgentProcess.launch(dir, List.of("--listen", "tcp://0.0.0.0:0"),
        Map.of("AGENT_AUTH_TOKEN", TOKEN)).awaitReady()) {
      String bound = agent.tcp();
      assertTrue(bound.startsWith("tcp://0.0.0.0:"), bound);
      String address = bound.replace("0.0.0.0", "127.0.0.1");

      try (AgentConnection c = AgentConnection.open(address)) {
        assertEquals(error("none", "Unauthorized"), c.call(req("none", "ping")));
        assertClosedByAgent(c);
      }
      for (String wrong : List.of("", "s3cret-token-", TOKEN + "x", TOKEN.toUpperCase(),
          "S3cret-token-\u00e9")) {
        try (AgentConnection c = AgentConnection.open(address)) {
          assertEquals(error("wrong", "Unauthorized"),
              c.call(req("wrong", "ping").put("auth_token", wrong)), wrong);
          assertClosedByAgent(c);
        }
      }
      // A request that would do something is refused before it is carried out.
      Path marker = dir.resolve("must-not-exist");
      try (AgentConnection c = AgentConnection.open(address)) {
        assertEquals(error("run", "Unauthorized"), c.call(run("run", "touch", marker.toString())
            .put("auth_token", "nope")));
        assertClosedByAgent(c);
      }
      // A good request first does not excuse a later bad one.
      try (AgentConnection c = AgentConnection.open(address)) {
        assertEquals(ok("good"), c.call(req("good", "ping").put("auth_token", TOKEN)));
        assertEquals(error("bad", "Unauthorized"), c.call(req("bad", "ping")));
        assertClosedByAgent(c);
      }
      try (AgentConnection c = AgentConnection.open(address)) {
        for (int i = 0; i < 3; i++) {
          assertEquals(ok("p" + i), c.call(req("p" + i, "ping").put("auth_token", TOKEN)));
        }
        JsonObject r = c.call(run("r", "sh", "-c", "echo authorised").put("auth_token", TOKEN));
        assertEquals(new JsonObject().put("id", "r").put("exit_code", 0)
            .put("stdout", "authorised\n").put("stderr", ""), r);
      }
      assertTrue(!Files.exists(marker), "an unauthorised run was carried out");
    }
  }
}
