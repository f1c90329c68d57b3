package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ProtocolSupport.ok;
import static verticles.ProtocolSupport.req;
import static verticles.ProtocolSupport.run;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import support.AgentProcess;

/**
 * A host that shuts down its sending side after its requests, and reads on, gets every answer;
 * a host that closes its connection still ends what it started. Over Unix sockets, the stand-in
 * for vsock, the agent tells the two apart.
 */
class HalfCloseTest {
  @Test
  void requestsSentBeforeTheHostStopsSendingAreAllAnswered() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      c.send(run("slow", "sh", "-c", "sleep 0.5; echo done"));
      c.send(run("fast", "echo", "at once"));
      c.send(req("p", "ping"));
      // Half a frame: it can never complete, so it is dropped, and the rest still answered.
      c.writeRaw(new byte[] {100, 0, 0, 0, '{'});
      c.shutdownOutput();
      Map<String, JsonObject> answers = new HashMap<>();
      for (int i = 0; i < 3; i++) {
        JsonObject r = c.receive();
        answers.put(r.getString("id"), r);
      }
      assertEquals(ok("p"), answers.get("p"));
      assertEquals("done\n", answers.get("slow").getString("stdout"), answers::toString);
      assertEquals(0, answers.get("slow").getInteger("exit_code"), answers::toString);
      assertEquals("at once\n", answers.get("fast").getString("stdout"), answers::toString);
      // With everything answered, the agent closes its side too.
      assertTrue(c.closedByAgent());
      try (AgentConnection again = AgentConnection.open(agent.unix())) {
        assertEquals(ok("q"), again.call(req("q", "ping")));
      }
    }
  }

  @Test
  void aHostThatStopsSendingWithNothingAskedIsClosedAtOnce() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      assertEquals(ok("p"), c.call(req("p", "ping")));
      c.shutdownOutput();
      assertTrue(c.closedByAgent());
    }
  }

  @Test
  void aHostThatClosesOverUnixStillEndsItsRun() throws Exception {
    String marker = "302.7" + ProcessHandle.current().pid();
    try (AgentProcess agent = AgentProcess.start().awaitReady()) {
      try (AgentConnection c = AgentConnection.open(agent.unix())) {
        c.send(run("s", "sh", "-c", "echo started; sleep " + marker).put("stream", true));
        JsonObject first = c.receive();
        assertEquals("stdout", first.getString("stream"), first::encode);
        // The shell forks the sleep after its echo, which may reach the host first.
        support.Poll.until("the run's sleep started", 15_000,
            () -> ProcessTreeTest.withArg(marker).size() == 1);
      }
      support.Poll.until("the run outlived its closed connection", 15_000,
          () -> ProcessTreeTest.withArg(marker).isEmpty());
      assertTrue(agent.log().stream().noneMatch(l -> l.contains("connection_input_ended")),
          "a close was taken for a half-close");
    }
  }
}
