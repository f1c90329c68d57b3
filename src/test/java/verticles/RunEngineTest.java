package verticles;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import process.ProcStat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import support.AgentProcess;
import support.Poll;
import support.SharedAgent;

/**
 * The process engine under load, against a real agent: many runs in flight share one reactor and
 * one reaper, so output stays whole and ordered, the thread count stays flat, and nothing the
 * agent started is left a zombie once its run is answered.
 */
class RunEngineTest {
  /** Runs in flight at once; within max_runs (256) and 64 per connection over 4 connections. */
  private static final int IN_FLIGHT = 200;
  private static final int CONNECTIONS = 4;

  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  private static JsonObject run(String id, String... command) {
    return new JsonObject().put("id", id).put("type", "run")
        .put("command", new JsonArray(List.of((Object[]) command)));
  }

  /** Sends {@code n} runs round-robin over the connections, then collects every answer by id. */
  private static Map<String, JsonObject> runAll(List<AgentConnection> cs, int n,
      java.util.function.IntFunction<JsonObject> request) throws IOException {
    for (int i = 0; i < n; i++) {
      cs.get(i % cs.size()).send(request.apply(i));
    }
    Map<String, JsonObject> answers = new HashMap<>();
    for (int i = 0; i < n; i++) {
      JsonObject r = cs.get(i % cs.size()).receive();
      answers.put(r.getString("id"), r);
    }
    return answers;
  }

  private static List<AgentConnection> open(String address, int n) throws IOException {
    List<AgentConnection> cs = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      cs.add(AgentConnection.open(address));
    }
    return cs;
  }

  private static void closeAll(List<AgentConnection> cs) throws IOException {
    for (AgentConnection c : cs) {
      c.close();
    }
  }

  @Test
  void outputOfTwoHundredConcurrentRunsIsCompleteAndInOrder() throws Exception {
    int lines = 3000;
    List<AgentConnection> cs = open(agent.tcp(), CONNECTIONS);
    try {
      // Each run writes numbered lines to stdout and to stderr, interleaved, with no fork.
      Map<String, JsonObject> answers = runAll(cs, IN_FLIGHT, i -> run("o" + i, "sh", "-c",
          "i=0; while [ $i -lt " + lines + " ]; do echo \"$0 $i\"; echo \"$0 e$i\" >&2;"
              + " i=$((i+1)); done; exit $(( $0 % 7 ))", Integer.toString(i)));
      for (int i = 0; i < IN_FLIGHT; i++) {
        JsonObject r = answers.get("o" + i);
        assertEquals(i % 7, r.getInteger("exit_code"), r.encode());
        StringBuilder out = new StringBuilder();
        StringBuilder err = new StringBuilder();
        for (int k = 0; k < lines; k++) {
          out.append(i).append(' ').append(k).append('\n');
          err.append(i).append(" e").append(k).append('\n');
        }
        assertEquals(out.toString(), r.getString("stdout"), "stdout of run " + i);
        assertEquals(err.toString(), r.getString("stderr"), "stderr of run " + i);
      }
    } finally {
      closeAll(cs);
    }
  }

  @Test
  void theThreadCountDoesNotGrowWithRunsInFlight() throws Exception {
    String marker = "911.2" + ProcessHandle.current().pid();
    List<AgentConnection> cs = open(agent.tcp(), CONNECTIONS);
    try {
      // A warm-up batch, so that every lazily started pool exists before the idle count.
      runAll(cs, 40, i -> run("w" + i, "true"));
      int idle = threads(agent.pid());
      for (int i = 0; i < IN_FLIGHT; i++) {
        cs.get(i % CONNECTIONS).send(run("s" + i, "sleep", marker));
      }
      Poll.until(IN_FLIGHT + " sleeps running", 60_000,
          () -> childrenWithArg(agent.pid(), marker) == IN_FLIGHT);
      int busy = threads(agent.pid());
      // Every run waits on the same reactor and reaper: not a thread per run or per pipe.
      assertTrue(busy <= idle + 2, "threads idle " + idle + ", with " + IN_FLIGHT
          + " runs in flight " + busy);
    } finally {
      // Closing the connections kills their runs.
      closeAll(cs);
    }
    Poll.until("the runs of the closed connections killed", 60_000,
        () -> childrenWithArg(agent.pid(), marker) == 0);
  }

  @AfterAll
  static void killLeftovers() {
    // Only reached with processes left if a test failed: do not leave them for 911 s.
    for (long pid : pids()) {
      try {
        String cmdline = Files.readString(Path.of("/proc/" + pid + "/cmdline"));
        long me = ProcessHandle.current().pid();
        if (cmdline.contains("911.2" + me) || cmdline.contains("911.3" + me)) {
          ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
      } catch (IOException | RuntimeException e) {
        // Gone.
      }
    }
  }

  @Test
  void exitCodesSignalsTimeoutsAndStdin() throws Exception {
    byte[] input = new byte[3 * 1024 * 1024 + 17];
    new Random(7).nextBytes(input);
    try (AgentConnection c = AgentConnection.open(agent.unix())) {
      assertEquals(7, c.call(run("e", "sh", "-c", "exit 7")).getInteger("exit_code"));
      assertEquals(128 + 15, c.call(run("t", "sh", "-c", "kill -TERM $$; sleep 5"))
          .getInteger("exit_code"));
      assertEquals(128 + 9, c.call(run("k", "sh", "-c", "kill -KILL $$; sleep 5"))
          .getInteger("exit_code"));
      JsonObject timedOut = c.call(run("to", "sleep", "30").put("timeout_ms", 200));
      assertEquals(124, timedOut.getInteger("exit_code"));
      assertEquals(true, timedOut.getBoolean("timed_out"));
      // More than a pipe holds: the engine writes it in pieces as the process reads.
      JsonObject echoed = c.call(run("in", "cat").put("stdin_base64",
          Base64.getEncoder().encodeToString(input)).put("output_encoding", "base64")
          .put("max_output_bytes", 8 * 1024 * 1024));
      assertEquals(0, echoed.getInteger("exit_code"));
      assertArrayEquals(input, Base64.getDecoder().decode(echoed.getString("stdout_base64")));
      // A process that never reads its stdin still gets answered.
      assertEquals(0, c.call(run("ig", "true").put("stdin_base64",
          Base64.getEncoder().encodeToString(input))).getInteger("exit_code"));
    }
  }

  @Test
  void noZombieIsLeftOnceARunIsAnswered() throws Exception {
    String marker = "911.3" + ProcessHandle.current().pid();
    List<AgentConnection> cs = open(agent.tcp(), CONNECTIONS);
    try {
      // Runs that exit at once, runs killed on timeout with a child of their own, and runs that
      // leave an orphan behind, which the agent adopts and must reap when it exits.
      Map<String, JsonObject> answers = runAll(cs, 60, i -> switch (i % 3) {
        case 0 -> run("z" + i, "true");
        case 1 -> run("z" + i, "sh", "-c", "sleep " + marker + " & sleep " + marker)
            .put("timeout_ms", 300);
        default -> run("z" + i, "sh", "-c", "(sleep 0.3; true) & exit 0");
      });
      for (int i = 0; i < 60; i++) {
        assertEquals(i % 3 == 1 ? 124 : 0, answers.get("z" + i).getInteger("exit_code"));
      }
      // The answered runs' own processes are reaped before the answer.
      for (long pid : zombieChildren(agent.pid())) {
        assertTrue(ProcessHandle.of(pid).isEmpty() || !isRunLeader(pid),
            "a run's own process is a zombie after its answer: " + pid);
      }
      // Killed trees and adopted orphans go as the kernel reports their exit.
      Poll.until("no zombie children of the agent", 10_000,
          () -> zombieChildren(agent.pid()).isEmpty()
              && childrenWithArg(agent.pid(), marker) == 0
              && descendantsNamed(agent.pid(), "sleep") == 0);
    } finally {
      closeAll(cs);
    }
  }

  @Test
  void shellsAndRunsStartWithDefaultSignalsWhateverTheAgentWasStartedWith(@TempDir Path dir)
      throws Exception {
    // Started as `nohup` starts it: SIGHUP ignored in the agent itself.
    try (AgentProcess a = AgentProcess.launchWrapped(dir, List.of("nohup"),
        List.of("--listen", "tcp://127.0.0.1:0"), Map.of())) {
      a.awaitReady();
      assertTrue(sigIgn(a.pid()) != 0, "the agent runs with SIGHUP ignored");
      try (AgentConnection c = AgentConnection.open(a.tcp())) {
        JsonObject status = c.call(run("st", "cat", "/proc/self/status"));
        String s = status.getString("stdout");
        assertTrue(s.contains("SigIgn:\t0000000000000000"), s);
        assertTrue(s.contains("SigBlk:\t0000000000000000"), s);
        JsonObject started = c.call(new JsonObject().put("id", "sh").put("type", "shell")
            .put("command", new JsonArray().add("sleep").add("600")));
        String sid = started.getString("session_id");
        JsonObject closed = c.call(new JsonObject().put("id", "cl").put("type", "shell_close")
            .put("session_id", sid));
        while (!"cl".equals(closed.getString("id"))) {
          closed = c.receive();
        }
        assertEquals(129, closed.getInteger("exit_code"), closed.encode());
        // A terminal's process starts as clean as a run's.
        JsonObject sh = c.call(new JsonObject().put("id", "sh2").put("type", "shell")
            .put("command", new JsonArray().add("sh").add("-c")
                .add("grep -E '^Sig(Ign|Blk)' /proc/self/status")));
        String sid2 = sh.getString("session_id");
        StringBuilder out = new StringBuilder();
        while (true) {
          JsonObject f = c.receive();
          // The first session's own exited event may still come after its close answer.
          if (!sid2.equals(f.getString("session_id"))) {
            continue;
          }
          if ("output".equals(f.getString("shell_event"))) {
            out.append(new String(Base64.getDecoder().decode(f.getString("output_base64")),
                StandardCharsets.UTF_8));
          } else if ("exited".equals(f.getString("shell_event"))) {
            break;
          }
        }
        assertTrue(out.toString().contains("SigIgn:\t0000000000000000"), out.toString());
        assertTrue(out.toString().contains("SigBlk:\t0000000000000000"), out.toString());
      }
    }
  }

  // ---------------------------------------------------------------- helpers

  private static int threads(long pid) throws IOException {
    return Integer.parseInt(field(pid, "Threads:"));
  }

  private static long sigIgn(long pid) throws IOException {
    return Long.parseUnsignedLong(field(pid, "SigIgn:"), 16);
  }

  private static String field(long pid, String name) throws IOException {
    for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
      if (l.startsWith(name)) {
        return l.substring(name.length()).trim();
      }
    }
    throw new IOException(name + " not in /proc/" + pid + "/status");
  }

  /** A run's own process leads its session. */
  private static boolean isRunLeader(long pid) {
    ProcStat f = ProcStat.read(pid);
    return f != null && f.session() == pid;
  }

  private static List<Long> zombieChildren(long parent) {
    List<Long> out = new ArrayList<>();
    for (long pid : pids()) {
      ProcStat f = ProcStat.read(pid);
      if (f != null && f.zombie() && f.ppid() == parent) {
        out.add(pid);
      }
    }
    return out;
  }

  private static int descendantsNamed(long agentPid, String name) {
    return (int) ProcessHandle.of(agentPid).map(h -> h.descendants()
        .filter(p -> p.info().command().map(c -> c.endsWith("/" + name)).orElse(false))
        .count()).orElse(0L).longValue();
  }

  private static int childrenWithArg(long agentPid, String arg) {
    int n = 0;
    for (long pid : pids()) {
      try {
        byte[] cmdline = Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline"));
        String[] args = new String(cmdline, StandardCharsets.UTF_8).split("\0");
        ProcStat f = ProcStat.read(pid);
        if (f != null && !f.zombie() && List.of(args).contains(arg)
            && isDescendant(pid, agentPid)) {
          n++;
        }
      } catch (IOException e) {
        // Gone.
      }
    }
    return n;
  }

  private static boolean isDescendant(long pid, long ancestor) {
    for (int depth = 0; depth < 64 && pid > 1; depth++) {
      ProcStat f = ProcStat.read(pid);
      if (f == null) {
        return false;
      }
      pid = f.ppid();
      if (pid == ancestor) {
        return true;
      }
    }
    return false;
  }

  private static List<Long> pids() {
    List<Long> out = new ArrayList<>();
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : dir) {
        out.add(Long.parseLong(p.getFileName().toString()));
      }
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    return out;
  }
}
