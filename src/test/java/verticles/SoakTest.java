package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;

/**
 * A leak check: 10,000 mixed requests (pings, runs, file operations, failures, shells, new and
 * closed connections) leave the agent's threads, open file descriptors and child processes where
 * they were after a warm-up round of the same mix.
 */
class SoakTest {
  static final int REQUESTS = Integer.getInteger("soak.requests", 10_000);
  /** Idle pool threads may come and go by a few; a leak grows with the request count. */
  static final int THREAD_SLACK = 6;
  static final int FD_SLACK = 4;

  @Test
  void mixedRequestsLeakNothing(@TempDir Path dir) throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady()) {
      mix(agent, dir, 600);
      long threads = count("/proc/" + agent.pid() + "/task");
      long fds = count("/proc/" + agent.pid() + "/fd");
      long children = descendants(agent.pid());

      mix(agent, dir, REQUESTS);

      long threadsAfter = count("/proc/" + agent.pid() + "/task");
      long fdsAfter = count("/proc/" + agent.pid() + "/fd");
      assertTrue(threadsAfter <= threads + THREAD_SLACK,
          "threads " + threads + " -> " + threadsAfter);
      assertTrue(fdsAfter <= fds + FD_SLACK, "fds " + fds + " -> " + fdsAfter);
      assertEquals(children, descendants(agent.pid()), "child processes left behind");
    }
  }

  private static void mix(AgentProcess agent, Path dir, int n) throws IOException {
    String file = dir.resolve("f").toString();
    String content = Base64.getEncoder().encodeToString("soak".getBytes());
    AgentConnection c = AgentConnection.open(agent.unix());
    for (int i = 0; i < n; i++) {
      String id = "s" + i;
      JsonObject r;
      switch (i % 10) {
        case 0, 1, 2 -> r = c.call(new JsonObject().put("id", id).put("type", "ping"));
        case 3 -> r = c.call(new JsonObject().put("id", id).put("type", "run")
            .put("command", new JsonArray().add("/bin/true")));
        case 4 -> r = c.call(new JsonObject().put("id", id).put("type", "write_file")
            .put("path", file).put("content_base64", content));
        case 5 -> r = c.call(new JsonObject().put("id", id).put("type", "read_file")
            .put("path", file));
        case 6 -> r = c.call(new JsonObject().put("id", id).put("type", "run")
            .put("command", new JsonArray().add("no-such-program")));
        case 7 -> r = c.call(new JsonObject().put("id", id).put("type", "read_file")
            .put("path", "/proc/self/environ"));
        case 8 -> {
          // A new connection every so often, on the other transport.
          c.close();
          c = AgentConnection.open(i % 20 == 8 ? agent.tcp() : agent.unix());
          r = c.call(new JsonObject().put("id", id).put("type", "stat").put("path", file));
        }
        default -> {
          if (i % 100 == 9) {
            JsonObject started = c.call(new JsonObject().put("id", id).put("type", "shell")
                .put("command", new JsonArray().add("/bin/sh")));
            r = c.call(new JsonObject().put("id", id + "c").put("type", "shell_close")
                .put("session_id", started.getString("session_id")));
          } else {
            c.writeFrame("{not json".getBytes());
            r = c.receive();
          }
        }
      }
      assertTrue(r.containsKey("exit_code") || r.containsKey("error"), r::encode);
    }
    c.close();
  }

  private static long count(String dir) throws IOException {
    try (Stream<Path> s = Files.list(Path.of(dir))) {
      return s.count();
    }
  }

  private static long descendants(long pid) {
    return support.Procs.descendants(pid).count();
  }
}
