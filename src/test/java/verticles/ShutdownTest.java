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
}
