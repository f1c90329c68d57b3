package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;

/**
 * The agent as PID 1 of its own PID namespace, as in a VM that boots straight into it: every
 * orphan in the namespace comes to it and must be reaped, and SIGTERM (which the kernel only
 * delivers to an init that handles it) must still end it cleanly with status 0.
 */
class InitTest {
  private AgentProcess agent;

  @Test
  void asPid1TheAgentReapsEveryOrphanAndStopsOnSigterm(@TempDir Path dir) throws Exception {
    List<String> args = new ArrayList<>(List.of("--listen", "unix:" + dir.resolve("agent.sock")));
    agent = AgentProcess.launchWrapped(dir,
        List.of("unshare", "--pid", "--kill-child", "--mount-proc"), args, Map.of()).awaitReady();
    try (AgentConnection c = AgentConnection.open(agent.unix())) {
      // The agent sees itself as PID 1.
      JsonObject ps = c.call(new JsonObject().put("id", "ps").put("type", "run")
          .put("command", new JsonArray().add("sh").add("-c").add("echo $PPID")));
      assertEquals("1\n", ps.getString("stdout"), ps::encode);
      for (int i = 0; i < 50; i++) {
        JsonObject r = c.call(new JsonObject().put("id", "o" + i).put("type", "run")
            .put("command", new JsonArray().add("sh").add("-c").add("sleep 0.01 &")));
        assertEquals(0, r.getInteger("exit_code"), r::encode);
      }
      // Inside the namespace: no zombie may stay (the agent reaps about once a second).
      JsonObject zombies = null;
      long deadline = System.nanoTime() + 15_000_000_000L;
      do {
        assertTrue(System.nanoTime() < deadline, "zombies stayed: " + zombies);
        zombies = c.call(new JsonObject().put("id", "z").put("type", "run").put("command",
            new JsonArray().add("sh").add("-c")
                .add("for s in /proc/[0-9]*/stat; do read -r l < $s && case \"${l##*) }\" in "
                    + "Z*) echo \"$l\";; esac; done 2>/dev/null")));
      } while (!zombies.getString("stdout").isEmpty());
    }
    // SIGTERM to the namespace's init (unshare's child: the agent itself). unshare waits for it
    // and exits with its status.
    ProcessHandle init = agent.process().toHandle().children().findFirst().orElseThrow();
    init.destroy();
    assertEquals(0, agent.awaitExit(10));
  }

  @AfterEach
  void noAgentLeft() throws Exception {
    // After a failed assertion: ending unshare (--kill-child) ends the agent and its namespace.
    if (agent != null) {
      agent.close();
    }
  }
}
