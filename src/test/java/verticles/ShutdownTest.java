package verticles;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import process.ProcStat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ProtocolSupport.answerTo;
import static verticles.ProtocolSupport.b64;
import static verticles.ProtocolSupport.eventually;
import static verticles.ProtocolSupport.ok;
import static verticles.ProtocolSupport.req;
import static verticles.ProtocolSupport.run;
import static verticles.ProtocolSupport.until;
import support.AgentProcess;

/** {@code shutdown} ends the agent and everything it started. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ShutdownTest {

  /** A process as /proc shows it: its start time tells it apart from a later one with its pid. */
  private record Proc(long pid, long ppid, char state, long startTime, String cmdline) {}

  private static Proc read(long pid) {
    try {
      ProcStat f = ProcStat.read(pid);
      if (f == null) {
        return null;
      }
      String cmd = new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
          StandardCharsets.UTF_8).replace('\0', ' ').trim();
      return new Proc(pid, f.ppid(), f.state(), f.startTime(), cmd);
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** Every descendant of {@code root}, by pid, from /proc. */
  private static Map<Long, Proc> descendants(long root) throws IOException {
    Map<Long, Proc> all = new TreeMap<>();
    try (var dir = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : dir) {
        Proc proc = read(Long.parseLong(p.getFileName().toString()));
        if (proc != null) {
          all.put(proc.pid(), proc);
        }
      }
    }
    Map<Long, Proc> out = new TreeMap<>();
    boolean grew = true;
    while (grew) {
      grew = false;
      for (Proc p : all.values()) {
        if ((p.ppid() == root || out.containsKey(p.ppid())) && !out.containsKey(p.pid())) {
          out.put(p.pid(), p);
          grew = true;
        }
      }
    }
    return out;
  }

  /** Still running: the same process (same start time) and not a zombie. */
  private static boolean survives(Proc before) {
    Proc now = read(before.pid());
    return now != null && now.startTime() == before.startTime() && now.state() != 'Z'
        && now.state() != 'X';
  }

  @Test
  void shutdownLeavesNoChildBehind() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection runConn = AgentConnection.open(agent.tcp());
        AgentConnection shellConn = AgentConnection.open(agent.unix());
        AgentConnection control = AgentConnection.open(agent.tcp())) {
      runConn.send(run("long", "sleep", "300"));
      shellConn.send(req("sh", "shell"));
      JsonObject started = shellConn.receive();
      assertEquals("started", started.getString("shell_event"), started::encode);
      String sid = started.getString("session_id");
      // A background job in the shell's session, a grandchild of the agent.
      shellConn.send(req("bg", "shell_input").put("session_id", sid)
          .put("input_base64", b64("sleep 301 &\n")));
      assertEquals(ok("bg"), until(shellConn, answerTo("bg"), null));

      long pid = agent.pid();
      Map<Long, Proc>[] snapshot = new Map[1];
      eventually(10_000, "sleep 300 and sleep 301 running under the agent", () -> {
        try {
          snapshot[0] = descendants(pid);
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
        List<String> cmds = snapshot[0].values().stream().map(Proc::cmdline).toList();
        return cmds.contains("sleep 300") && cmds.contains("sleep 301");
      });
      Map<Long, Proc> before = snapshot[0];
      assertTrue(before.values().stream().anyMatch(p -> p.ppid() == pid
          && p.cmdline().equals("sleep 300")), () -> "run is a child of the agent: " + before);

      assertEquals(ok("bye"), control.call(req("bye", "shutdown")));
      assertEquals(0, agent.awaitExit(10), "exit code after shutdown");

      // The agent is gone; every process it had started must be gone too (not even left to
      // init). Killed processes may take a moment to be reaped, hence the bounded poll.
      eventually(5_000, "no descendant of the agent survives", () -> before.values().stream()
          .noneMatch(ShutdownTest::survives));
      String left = before.values().stream().filter(ShutdownTest::survives)
          .map(Proc::toString).collect(Collectors.joining(", "));
      assertEquals("", left);
    }
  }

  @Test
  void runsEndedByTheShutdownAreStillAnswered() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection runConn = AgentConnection.open(agent.unix());
        AgentConnection control = AgentConnection.open(agent.tcp())) {
      // Ends on SIGTERM with its own code and a last word; a second run is streamed.
      runConn.send(run("term", "sh", "-c",
          "trap 'echo got TERM; exit 3' TERM; echo up; while :; do sleep 0.05; done"));
      runConn.send(run("stream", "sleep", "300").put("stream", true));
      eventually(10_000, "both runs started", () -> {
        try {
          List<String> cmds = descendants(agent.pid()).values().stream().map(Proc::cmdline)
              .toList();
          return cmds.contains("sleep 300") && cmds.stream().anyMatch(c -> c.contains("trap"));
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      });
      assertEquals(ok("bye"), control.call(req("bye", "shutdown")));
      Map<String, JsonObject> answers = new java.util.HashMap<>();
      while (answers.size() < 2) {
        JsonObject f = runConn.receive();
        if (f.containsKey("exit_code")) {
          answers.put(f.getString("id"), f);
        }
      }
      JsonObject term = answers.get("term");
      assertEquals(3, term.getInteger("exit_code"), term::encode);
      assertEquals("up\ngot TERM\n", term.getString("stdout"), term::encode);
      // sleep dies of the SIGTERM: 128 + 15.
      assertEquals(143, answers.get("stream").getInteger("exit_code"), answers::toString);
      assertEquals(0, agent.awaitExit(10), "exit code after shutdown");
    }
  }

  /**
   * The agent's own files overwritten while it runs, as an upgrade in place does: the orderly
   * shutdown fails on the first class it had not loaded yet. The agent must still end on the
   * signal, with what it started (here a run's leftover), instead of running on, deaf to the
   * next signal, as it did.
   */
  @Test
  void aSignalEndsAnAgentWhoseFilesWereOverwrittenAndWhatItStarted() throws Exception {
    Path dir = Files.createTempDirectory("agent-test");
    try {
      List<Path> copies = new java.util.ArrayList<>();
      int n = 0;
      for (String entry : AgentProcess.classPath().split(java.io.File.pathSeparator)) {
        Path from = Path.of(entry);
        if (!Files.exists(from)) {
          continue;
        }
        Path to = dir.resolve("cp" + n++ + (Files.isDirectory(from) ? "" : ".jar"));
        copyTree(from, to);
        copies.add(to);
      }
      String classPath = copies.stream().map(Path::toString)
          .collect(Collectors.joining(java.io.File.pathSeparator));
      try (AgentProcess agent = AgentProcess.launchFrom(dir, classPath,
          List.of("--listen", "unix:" + dir.resolve("agent.sock"))).awaitReady();
          AgentConnection conn = AgentConnection.open(agent.unix())) {
        JsonObject left = conn.call(run("left", "sh", "-c", "sleep 300 >/dev/null 2>&1 &"));
        assertEquals(0, left.getInteger("exit_code"), left::encode);
        Proc[] sleep = new Proc[1];
        eventually(10_000, "the leftover sleep 300 under the agent", () -> {
          try {
            sleep[0] = descendants(agent.pid()).values().stream()
                .filter(p -> p.cmdline().equals("sleep 300")).findFirst().orElse(null);
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
          return sleep[0] != null;
        });
        // Overwritten in place (the same files, other bytes), so the JVM still reads them.
        for (Path c : copies) {
          overwrite(c);
        }
        // SIGTERM, through the handle: Process.destroy would also close the agent's stderr here.
        assertTrue(agent.process().toHandle().destroy(), "SIGTERM sent");
        assertEquals(1, agent.awaitExit(30), "exit code after a failed shutdown");
        // Its last lines may still be on their way through the pipe.
        // Its last lines may still be on their way through the pipe.
        eventually(5_000, "the log says the shutdown failed", () -> agent.log().stream()
            .anyMatch(l -> l.contains("shutdown_failed")));
        eventually(5_000, "the leftover is gone with the agent", () -> !survives(sleep[0]));
      }
    } finally {
      removeTree(dir);
    }
  }

  private static void copyTree(Path from, Path to) throws IOException {
    try (var all = Files.walk(from)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target);
        }
      }
    }
  }

  /** Every file under {@code p} keeps its name and size, with zeros for its bytes. */
  private static void overwrite(Path p) throws IOException {
    try (var all = Files.walk(p)) {
      for (Path f : (Iterable<Path>) all::iterator) {
        if (Files.isRegularFile(f)) {
          Files.write(f, new byte[(int) Files.size(f)]);
        }
      }
    }
  }

  private static void removeTree(Path dir) throws IOException {
    try (var all = Files.walk(dir)) {
      for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
