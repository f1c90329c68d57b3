package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ShellEventsTest.HANG;
import static verticles.ShellEventsTest.poll;

import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;
import verticles.ShellEventsTest.Host;
import verticles.ShellEventsTest.Output;

/**
 * Sessions against configured limits: a small backlog for detached output, a cap of two
 * sessions, and a short idle time for exited sessions.
 */
class ShellLimitsTest {
  static final int BACKLOG = 65_536;
  static final long IDLE_MS = 2_000;

  static AgentProcess agent;

  @BeforeAll
  static void start(@TempDir Path dir) throws Exception {
    agent = AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0", "--listen",
        "unix:" + dir.resolve("agent.sock")), Map.of(
            "AGENT_SHELL_BACKLOG_BYTES", Integer.toString(BACKLOG),
            "AGENT_MAX_SESSIONS", "2",
            "AGENT_SESSION_IDLE_TIMEOUT_MS", Long.toString(IDLE_MS))).awaitReady();
  }

  @AfterAll
  static void stop() throws Exception {
    agent.close();
  }

  /** The id the agent gave the connection that started session {@code sid}, from its log. */
  static String starterOf(String sid) throws InterruptedException {
    Pattern p = Pattern.compile("shell_started session=" + sid + " connection=(\\S+)");
    String[] found = new String[1];
    poll(() -> agent.log().stream().map(p::matcher).filter(Matcher::find).findFirst()
        .map(m -> found[0] = m.group(1)).isPresent(), "no shell_started for " + sid);
    return found[0];
  }

  /** Waits until the agent has seen connection {@code conn} close (it logs that). */
  static void awaitClosed(String conn) throws InterruptedException {
    poll(() -> agent.log().stream().anyMatch(l -> l.contains("connection_closed connection="
        + conn)), "connection " + conn + " not closed");
  }

  static String seq(int n) {
    StringBuilder b = new StringBuilder();
    for (int i = 1; i <= n; i++) {
      b.append(i).append("\r\n");
    }
    return b.toString();
  }

  @Test
  void outputWhileDetachedIsReplayedAfterTheAttachAnswerOldestDroppedWhenFull()
      throws Exception {
    String sid;
    try (Host a = Host.open(agent.unix())) {
      sid = a.startShell(Host.shell("bk", "/bin/sh", "-c",
          "stty -echo; echo READY; read x; seq 1 50000"));
      a.awaitOutput(sid, "READY\r\n");
    }
    awaitClosed(starterOf(sid));
    try (Host b = Host.open(agent.tcp())) {
      // Any connection may type; the output goes to the backlog, as nobody receives it.
      assertEquals(Host.ok("go"), b.call(Host.input("go", sid, "go\n")));
      poll(() -> {
        try {
          return Boolean.FALSE.equals(b.session(sid).getBoolean("running"));
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      }, "the session did not end");
      b.send(Host.attach("at", sid));
      // The answer comes first, then the backlog, then exited.
      assertEquals(Host.ok("at").put("session_id", sid), b.next(HANG));
      Output out = b.collect(sid);
      assertEquals(0, out.exitCode);
      assertEquals("bk", out.exited.getString("id"), "events keep the shell request's id");
      String all = seq(50_000);
      String got = out.text();
      // The prompt may come first once more (see the count below); the rest is the newest output.
      String tail = got.startsWith("READY\r\n") ? got.substring("READY\r\n".length()) : got;
      assertTrue(all.endsWith(tail), () -> "the backlog is the newest output, in order: "
          + got.length() + " bytes from " + got.substring(0, Math.min(40, got.length()))
              .replace("\r\n", "|") + " to " + got.substring(Math.max(0, got.length() - 40))
              .replace("\r\n", "|"));
      assertTrue(out.firstDropped != null && out.firstDropped > 0, "dropped_bytes on the first");
      assertEquals(out.droppedBytes, (long) out.firstDropped, "drops are reported once");
      // Output stays with the session until its receiver acknowledges it, so "READY\r\n" may be
      // counted again when the starter closed before its acknowledgement came back.
      long counted = got.length() + out.droppedBytes;
      assertTrue(counted == all.length() || counted == all.length() + "READY\r\n".length(),
          "every byte delivered or counted: " + counted + " of " + all.length());
      // What was kept is bounded by the backlog (plus what the terminal held at the exit).
      assertTrue(got.length() <= BACKLOG + 64 * 1024, "kept " + got.length());
      System.out.printf("detached seq 1 50000: %d bytes replayed, %d dropped (backlog %d)%n",
          got.length(), out.droppedBytes, BACKLOG);
      assertEquals(Host.exited("c", sid, 0), b.call(Host.close("c", sid)));
    }
  }

  @Test
  void smallDetachedOutputIsReplayedWhole() throws Exception {
    String sid;
    try (Host a = Host.open(agent.tcp())) {
      sid = a.startShell(Host.shell("sm", "/bin/sh", "-c",
          "stty -echo; echo READY; read x; seq 1 1000; read y"));
      a.awaitOutput(sid, "READY\r\n");
    }
    awaitClosed(starterOf(sid));
    try (Host b = Host.open(agent.unix()); Host c = Host.open(agent.tcp())) {
      assertEquals(Host.ok("go"), c.call(Host.input("go", sid, "go\n")));
      b.send(Host.attach("at", sid));
      assertEquals(Host.ok("at").put("session_id", sid), b.next(HANG));
      // Ends the session once everything so far was received.
      b.awaitOutput(sid, "\r\n1000\r\n");
      assertEquals(Host.ok("end"), c.call(Host.input("end", sid, "\n")));
      Output rest = b.collect(sid);
      assertEquals(0, rest.exitCode);
      assertEquals(0, rest.droppedBytes);
      assertTrue(c.nothingElse(), "the typing connection receives no output");
      b.call(Host.close("c", sid));
    }
  }

  @Test
  void theSessionCapAnswersBusyAtOnce() throws Exception {
    try (Host h = Host.open(agent.unix())) {
      String s1 = h.startShell(Host.shell("a", "cat"));
      h.call(Host.input("ia", s1, "ready\n"));
      h.awaitOutput(s1, "ready\r\nready\r\n");
      String s2 = h.startShell(Host.shell("b", "cat"));
      long t0 = System.nanoTime();
      JsonObject busy = h.call(Host.shell("c", "cat"));
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertEquals(2, busy.size(), busy.encode());
      assertEquals("c", busy.getString("id"));
      assertTrue(busy.getString("error").startsWith("Busy: "), busy.encode());
      assertTrue(ms < 5_000, "answered in " + ms + " ms");
      // Closing one frees its slot.
      assertEquals(129, h.call(Host.close("x1", s1)).getInteger("exit_code"));
      String s3 = h.startShell(Host.shell("d", "cat"));
      h.call(Host.close("x2", s2));
      h.call(Host.close("x3", s3));
    }
  }

  @Test
  void anExitedSessionIsForgottenAfterTheIdleTime() throws Exception {
    try (Host h = Host.open(agent.tcp())) {
      String sid = h.startShell(Host.shell("i", "/bin/sh", "-c", "exit 3"));
      assertEquals(3, h.collect(sid).exitCode);
      JsonObject s = h.session(sid);
      assertEquals(false, s.getBoolean("running"));
      assertEquals(3, s.getInteger("exit_code"));
      long t0 = System.nanoTime();
      poll(() -> {
        try {
          return h.session(sid) == null;
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      }, "the exited session was not forgotten");
      System.out.printf("exited session forgotten after %d ms (idle %d ms)%n",
          (System.nanoTime() - t0) / 1_000_000, IDLE_MS);
      assertEquals(new JsonObject().put("id", "c")
              .put("error", "Failed to close session: Session not found: " + sid),
          h.call(Host.close("c", sid)));
      // Its slot is free again: two sessions fit under the cap.
      String a = h.startShell(Host.shell("a", "cat"));
      String b = h.startShell(Host.shell("b", "cat"));
      h.call(Host.close("ca", a));
      h.call(Host.close("cb", b));
      assertNull(h.session(a));
    }
  }

  @Test
  void aRunningSessionIsNotForgottenByTheIdleTime() throws Exception {
    try (Host h = Host.open(agent.unix())) {
      String sid = h.startShell(Host.shell("r", "/bin/sh"));
      // Twice the idle time of activity: the session still answers and lists as running.
      long end = System.nanoTime() + 2 * IDLE_MS * 1_000_000;
      int n = 0;
      while (System.nanoTime() < end) {
        h.call(Host.input("i" + n, sid, "echo tick-" + n + "-$((" + n + "+1))\n"));
        h.awaitOutput(sid, "tick-" + n + "-" + (n + 1) + "\r\n");
        n++;
      }
      assertEquals(true, h.session(sid).getBoolean("running"));
      assertEquals(129, h.call(Host.close("c", sid)).getInteger("exit_code"));
    }
  }
}
