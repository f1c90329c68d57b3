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
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import process.ProcStat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import support.AgentProcess;

/**
 * Processes never escape the agent: a grandchild that calls setsid after its parent exits (a
 * double fork) is killed on timeout and on disconnect, orphans are reaped so no zombie stays, and
 * shutdown under load ends everything within 2 seconds.
 */
class ProcessTreeTest {
  /** A double fork: the subshell starts a new session and exits, the sleep is orphaned. */
  private static JsonObject escapee(String id, String marker) {
    return new JsonObject().put("id", id).put("type", "run").put("command", new JsonArray()
        .add("sh").add("-c").add("(setsid sleep " + marker + " &); echo started; sleep 300"));
  }

  @Test
  void aSetsidGrandchildIsKilledOnTimeout() throws Exception {
    String marker = "301.1" + ProcessHandle.current().pid();
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject r = c.call(escapee("t", marker).put("timeout_ms", 1500));
      assertEquals(124, r.getInteger("exit_code"), r::encode);
      await(() -> withArg(marker).isEmpty(), "the escaped sleep outlived the timeout");
    }
  }

  @Test
  void aSetsidGrandchildIsKilledOnDisconnect() throws Exception {
    String marker = "301.2" + ProcessHandle.current().pid();
    try (AgentProcess agent = AgentProcess.start().awaitReady()) {
      try (AgentConnection c = AgentConnection.open(agent.tcp())) {
        c.send(escapee("d", marker).put("stream", true));
        // The first output proves the escapee was started.
        JsonObject first = c.receive();
        assertEquals("stdout", first.getString("stream"), first::encode);
        await(() -> !withArg(marker).isEmpty(), "the escapee never started");
        // It has left the run's tree and become the agent's own child.
        long escaped = withArg(marker).get(0);
        await(() -> parentOf(escaped) == agent.pid(), "the escapee was not adopted by the agent");
      }
      await(() -> withArg(marker).isEmpty(), "the escaped sleep outlived its connection");
    }
  }

  @Test
  void everyRunLeadsItsOwnSessionAndProcessGroupWithOnlyItsStandardStreams() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject r = c.call(new JsonObject().put("id", "s").put("type", "run").put("command",
          new JsonArray().add("sh").add("-c").add("cat /proc/$$/stat; ls /proc/$$/fd")));
      assertEquals(0, r.getInteger("exit_code"), r::encode);
      String[] lines = r.getString("stdout").split("\n");
      ProcStat stat = ProcStat.parse(lines[0]);
      assertEquals(stat.pid(), stat.pgrp(), "process group: " + lines[0]);
      assertEquals(stat.pid(), stat.session(), "session: " + lines[0]);
      assertEquals(List.of("0", "1", "2"), List.of(lines).subList(1, lines.length),
          "descriptors the run inherited");
    }
  }

  @Test
  void commandsDoNotInheritTheAgentsToken(@TempDir Path dir) throws Exception {
    try (AgentProcess agent = AgentProcess.launch(dir, List.of("--listen",
            "unix:" + dir.resolve("agent.sock")), java.util.Map.of("AGENT_AUTH_TOKEN", "s3cret"))
        .awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      String probe = "echo ${AGENT_AUTH_TOKEN:-none}";
      JsonObject run = c.call(new JsonObject().put("id", "r").put("type", "run")
          .put("command", new JsonArray().add("sh").add("-c").add(probe)));
      assertEquals("none\n", run.getString("stdout"), run::encode);
      JsonObject shell = c.call(new JsonObject().put("id", "s").put("type", "shell")
          .put("command", new JsonArray().add("sh").add("-c").add(probe)));
      StringBuilder out = new StringBuilder();
      JsonObject f;
      while (!"exited".equals((f = c.receive()).getString("shell_event"))) {
        out.append(new String(java.util.Base64.getDecoder().decode(
            f.getString("output_base64", "")), java.nio.charset.StandardCharsets.UTF_8));
      }
      assertEquals("none\r\n", out.toString(), shell::encode);
    }
  }

  @Test
  void orphansAreReapedSoNoZombieStays() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      for (int i = 0; i < 100; i++) {
        JsonObject r = c.call(new JsonObject().put("id", "z" + i).put("type", "run")
            .put("command", new JsonArray().add("sh").add("-c").add("sleep 0.01 &")));
        assertEquals(0, r.getInteger("exit_code"), r::encode);
      }
      // Awaited together: the last `sleep` closes its pipes (and so its run is answered) a
      // moment before it becomes a zombie, which the agent then reaps as the kernel reports it.
      await(() -> zombieChildren(agent.pid()).isEmpty()
          && support.Procs.descendants(agent.pid()).count() == 0,
          "zombies or descendants left");
      assertEquals(0, support.Procs.descendants(agent.pid()).count());
    }
  }

  /**
   * A run answered at once whose child lives on, its output elsewhere: the child comes to the
   * agent when the run's process exits, and is reaped when it exits in turn, long after the
   * answer, with no run in flight to bring the agent to look. So with the agent's sentinel (the
   * reaper always waits) and without it ({@code -Dagent.sentinel.off=true}: the reaper parks
   * whenever the agent has no child).
   */
  @ParameterizedTest
  @ValueSource(strings = {"sentinel", "none"})
  void anOrphanThatOutlivesItsAnswerIsReapedWhenItExits(String sentinel, @TempDir Path dir)
      throws Exception {
    List<String> jvm = sentinel.equals("none") ? List.of("-Dagent.sentinel.off=true") : List.of();
    try (AgentProcess agent = AgentProcess.launchWrapped(dir, List.of(), jvm,
            List.of("--listen", "unix:" + dir.resolve("agent.sock")), java.util.Map.of())
            .awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      for (int i = 0; i < 20; i++) {
        JsonObject r = c.call(new JsonObject().put("id", "o" + i).put("type", "run")
            .put("command", new JsonArray().add("sh").add("-c")
                .add("sleep 1 >/dev/null 2>&1 </dev/null &")));
        assertEquals(0, r.getInteger("exit_code"), r::encode);
      }
      assertTrue(support.Procs.children(agent.pid()).count() > 0,
          "the sleeps were no longer running when their runs were answered");
      await(() -> zombieChildren(agent.pid()).isEmpty()
          && support.Procs.descendants(agent.pid()).count() == 0,
          "zombies or descendants left");
      assertEquals(List.of(), zombieChildren(agent.pid()));
      // The only child left, if any, is the sentinel, and only where it is on.
      assertEquals(sentinel.equals("none") ? 0 : 1,
          ProcessHandle.of(agent.pid()).orElseThrow().children().count());
    }
  }

  /**
   * A process whose parent exits while the run goes on comes to the agent, and is reaped when it
   * exits, while the run that started it still runs: a long run (or a terminal session) whose
   * subshells leave children could otherwise pile up zombies until it ends, each holding a pid
   * its cell counts against `pids_max`.
   */
  @Test
  void anOrphanIsReapedWhileItsRunGoesOn(@TempDir Path dir) throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      String marker = "7.3" + ProcessHandle.current().pid();
      // The subshell starts a `sleep`, writes its pid and exits: the `sleep` comes to the agent
      // and exits half a second later. The run itself goes on until the test writes the gate.
      Path orphan = dir.resolve("orphan");
      Path gate = dir.resolve("gate");
      c.send(new JsonObject().put("id", "long").put("type", "run")
          .put("command", new JsonArray().add("sh").add("-c")
              .add("(sleep 0.5 >/dev/null 2>&1 </dev/null & echo $! > " + orphan + "); sleep "
                  + marker + " & while [ ! -e " + gate + " ]; do sleep 0.05; done; kill $!")));
      await(() -> {
        try {
          return Files.readString(orphan).endsWith("\n");
        } catch (IOException e) {
          return false;
        }
      }, "the subshell did not start its sleep");
      Path proc = Path.of("/proc", Files.readString(orphan).strip());
      await(() -> !Files.exists(proc), "the adopted sleep stayed (a zombie) while its run went on");
      assertTrue(!withArg(marker).isEmpty(), "the run ended before the orphan was reaped");
      Files.writeString(gate, "");
      JsonObject r = c.receive();
      assertEquals("long", r.getString("id"), r::encode);
    }
  }

  /**
   * The agent runs no program but those it is asked to: loading the C library does not start
   * `ldconfig` (JNA's way to find libraries), which would leave the JDK's thread that waits for
   * processes it starts itself.
   */
  @Test
  void theAgentStartsNoProgramOfItsOwn() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject r = c.call(new JsonObject().put("id", "r").put("type", "run")
          .put("command", new JsonArray().add("true")));
      assertEquals(0, r.getInteger("exit_code"), r::encode);
      assertTrue(!threadNames(agent.pid()).contains("process reaper"),
          () -> "the JVM started a process of its own: " + threadNames(agent.pid()));
    }
  }

  private static List<String> threadNames(long pid) {
    List<String> names = new ArrayList<>();
    try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/" + pid + "/task"))) {
      for (Path t : tasks) {
        names.add(Files.readString(t.resolve("comm")).strip());
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return names;
  }

  @Test
  void shutdownUnderLoadEndsWithin2SecondsLeavingNothing() throws Exception {
    String marker = "301.3" + ProcessHandle.current().pid();
    AgentProcess agent = AgentProcess.start().awaitReady();
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<AgentConnection> open = new ArrayList<>();
      for (int k = 0; k < 8; k++) {
        AgentConnection c = AgentConnection.open(k % 2 == 0 ? agent.tcp() : agent.unix());
        open.add(c);
        // Each connection: a long run with an escapee, a shell, and a stream of pings.
        c.send(escapee("e" + k, marker));
        c.call(new JsonObject().put("id", "s" + k).put("type", "shell")
            .put("command", new JsonArray().add("sh").add("-c").add("sleep " + marker)));
        pool.submit(() -> {
          for (int i = 0; i < 100_000; i++) {
            c.call(new JsonObject().put("id", "p" + i).put("type", "ping"));
          }
          return null;
        });
      }
      await(() -> withArg(marker).size() >= 16, "not everything started");
      List<ProcessHandle> before = support.Procs.descendants(agent.pid()).toList();
      assertTrue(before.size() >= 16, "descendants: " + before.size());
      long t0 = System.nanoTime();
      try (AgentConnection c = AgentConnection.open(agent.unix())) {
        JsonObject r = c.call(new JsonObject().put("id", "bye").put("type", "shutdown"));
        assertEquals(0, r.getInteger("exit_code"));
      }
      assertEquals(0, agent.awaitExit(10));
      double secs = (System.nanoTime() - t0) / 1e9;
      // A loose bound that catches a hang: the agent promises 2 s.
      assertTrue(secs < 4, "shutdown took " + secs + " s");
      await(() -> before.stream().noneMatch(ProcessHandle::isAlive),
          "processes outlived the agent: " + before.stream().filter(ProcessHandle::isAlive)
              .map(p -> p.pid() + " " + p.info().commandLine().orElse("?")).toList()
              + "; agent log: " + agent.log());
      assertTrue(withArg(marker).isEmpty());
      for (AgentConnection c : open) {
        c.close();
      }
    } finally {
      pool.shutdownNow();
      agent.close();
    }
  }

  private static void await(BooleanSupplier cond, String what) throws InterruptedException {
    support.Poll.until(what, 15_000, cond);
  }

  /** Pids of live processes whose command line has {@code arg} as an argument. */
  static List<Long> withArg(String arg) {
    List<Long> out = new ArrayList<>();
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : dir) {
        try {
          ProcStat stat = ProcStat.read(Long.parseLong(p.getFileName().toString()));
          if (stat == null || stat.zombie()) {
            continue;
          }
          String cmd = new String(Files.readAllBytes(p.resolve("cmdline")),
              StandardCharsets.UTF_8);
          if (List.of(cmd.split("\0")).contains(arg)) {
            out.add(Long.parseLong(p.getFileName().toString()));
          }
        } catch (IOException e) {
          // Gone.
        }
      }
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    return out;
  }

  private static long parentOf(long pid) {
    ProcStat stat = ProcStat.read(pid);
    return stat == null ? -1 : stat.ppid();
  }

  private static List<Long> zombieChildren(long parent) {
    List<Long> out = new ArrayList<>();
    ProcStat.scan(f -> {
      if (f.zombie() && f.ppid() == parent) {
        out.add(f.pid());
      }
    });
    return out;
  }
}
