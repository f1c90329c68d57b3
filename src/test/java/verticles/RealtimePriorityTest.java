package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;
import support.Poll;

/**
 * The agent's threads run under SCHED_RR (so a VM full of busy processes still gets its requests,
 * kills and shutdown served), and everything it starts, and what that starts, runs under normal
 * scheduling. With {@code realtime_priority} 0 nothing changes.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RealtimePriorityTest {
  private static final int SCHED_OTHER = 0;
  private static final int SCHED_RR = 2;
  /** Prints the policy and real-time priority of the shell, then of a child of the shell. */
  private static final String BOTH = "read -r line < /proc/$$/stat; echo \"$line\"; "
      + "cat /proc/self/stat; echo";

  @Test
  void theAgentsThreadsAreRealTimeAndWhatItStartsIsNot(@TempDir Path dir) throws Exception {
    try (AgentProcess agent = AgentProcess.launch(dir,
        List.of("--listen", "unix:" + dir.resolve("agent.sock")), Map.of()).awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject r = c.call(new JsonObject().put("id", "r").put("type", "run")
          .put("command", new JsonArray().add("/bin/sh").add("-c").add(BOTH)));
      String[] lines = r.getString("stdout").trim().split("\n");
      assertEquals(2, lines.length, r::encode);
      for (String line : lines) {
        assertEquals(List.of(SCHED_OTHER, 0), policy(line), "a run and its child: " + line);
      }
      JsonObject s = c.call(new JsonObject().put("id", "s").put("type", "shell")
          .put("command", new JsonArray().add("sleep").add("61.375")));
      assertTrue(s.getString("session_id") != null, s::encode);
      List<Long> sessions = new ArrayList<>();
      Poll.until("the session's process", 30_000, () -> {
        sessions.clear();
        try {
          sessions.addAll(children(agent.pid(), "61.375"));
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
        return !sessions.isEmpty();
      });
      assertEquals(List.of(SCHED_OTHER, 0),
          policy(Files.readString(Path.of("/proc/" + sessions.get(0) + "/stat"))), "a session");
      List<String> normal = new ArrayList<>();
      int threads = 0;
      for (Path task : tasks(agent.pid())) {
        try {
          List<Integer> p = policy(Files.readString(task.resolve("stat")));
          threads++;
          if (!p.equals(List.of(SCHED_RR, 1))) {
            normal.add(Files.readString(task.resolve("comm")).trim() + " " + p);
          }
        } catch (IOException e) {
          // The thread has ended.
        }
      }
      assertTrue(threads > 10, "threads read: " + threads);
      assertEquals(List.of(), normal, "every thread of the agent at SCHED_RR priority 1");
      agent.awaitLog("a realtime_priority line for SCHED_RR",
          l -> l.contains("realtime_priority") && l.contains("SCHED_RR"));
    }
  }

  @Test
  void withPriorityZeroNothingIsRealTime(@TempDir Path dir) throws Exception {
    try (AgentProcess agent = AgentProcess.launch(dir,
        List.of("--listen", "unix:" + dir.resolve("agent.sock")),
        Map.of("AGENT_REALTIME_PRIORITY", "0")).awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject r = c.call(new JsonObject().put("id", "r").put("type", "run")
          .put("command", new JsonArray().add("/bin/sh").add("-c").add(BOTH)));
      assertEquals(0, r.getInteger("exit_code"), r::encode);
      for (Path task : tasks(agent.pid())) {
        try {
          assertEquals(SCHED_OTHER, policy(Files.readString(task.resolve("stat"))).get(0),
              task.toString());
        } catch (IOException e) {
          // The thread has ended.
        }
      }
    }
  }

  /** Policy and real-time priority from a {@code /proc/.../stat} line (fields 41 and 40). */
  private static List<Integer> policy(String stat) {
    // The name in brackets may hold spaces: count the fields after its closing bracket, which
    // is field 2, so field N is at index N - 3.
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
    return List.of(Integer.parseInt(f[41 - 3]), Integer.parseInt(f[40 - 3]));
  }

  private static List<Path> tasks(long pid) throws IOException {
    try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/task"))) {
      return s.toList();
    }
  }

  /** The agent's children whose command line holds {@code arg}. */
  private static List<Long> children(long agent, String arg) throws IOException {
    List<Long> out = new ArrayList<>();
    for (Path task : tasks(agent)) {
      String kids;
      try {
        kids = Files.readString(task.resolve("children")).trim();
      } catch (IOException e) {
        continue;
      }
      for (String k : kids.isEmpty() ? new String[0] : kids.split(" ")) {
        try {
          if (Files.readString(Path.of("/proc/" + k + "/cmdline")).contains(arg)) {
            out.add(Long.parseLong(k));
          }
        } catch (IOException e) {
          // Gone.
        }
      }
    }
    return out;
  }
}
