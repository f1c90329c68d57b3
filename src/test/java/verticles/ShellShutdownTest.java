package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import support.AgentProcess;
import verticles.ShellEventsTest.Host;
import verticles.ShellEventsTest.Procs;

/** The agent's end, by SIGTERM or by request, ends every session and leaves no process. */
class ShellShutdownTest {

  /** Starts sessions that leave work behind; returns every pid they started. */
  static List<Long> startSessions(Host h) throws Exception {
    List<Long> pids = new ArrayList<>();
    // An interactive shell with a background job.
    String a = h.startShell(Host.shell("a", "/bin/sh"));
    h.call(Host.input("ia", a, "sleep 300 & echo BG=$! SH=$$\n"));
    Matcher m = h.awaitOutput(a, Pattern.compile("BG=(\\d+) SH=(\\d+)"));
    pids.add(Long.parseLong(m.group(1)));
    pids.add(Long.parseLong(m.group(2)));
    // A shell and a child that ignore SIGHUP and SIGTERM: only SIGKILL ends them.
    String b = h.startShell(Host.shell("b", "/bin/sh", "-c",
        "trap '' HUP TERM; sleep 301 & echo SH=$$ BG=$!; wait"));
    m = h.awaitOutput(b, Pattern.compile("SH=(\\d+) BG=(\\d+)"));
    pids.add(Long.parseLong(m.group(1)));
    pids.add(Long.parseLong(m.group(2)));
    // A session whose process already exited.
    String c = h.startShell(Host.shell("c", "/bin/sh", "-c", "exit 2"));
    assertEquals(2, h.collect(c).exitCode);
    for (long pid : pids) {
      assertTrue(Procs.alive(pid), "started " + pid);
    }
    return pids;
  }

  static void assertNothingLeft(List<Long> pids) throws Exception {
    Procs.awaitGone(pids);
    for (long pid : pids) {
      assertEquals(List.of(), Procs.sessionMembers(pid), "left in session " + pid);
    }
  }

  @Test
  void sigtermEndsEverySession() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        Host h = Host.open(agent.unix())) {
      List<Long> pids = startSessions(h);
      long t0 = System.nanoTime();
      agent.process().destroy();
      // SIGTERM runs the same orderly shutdown as the request, and exits 0 as it does.
      assertEquals(0, agent.awaitExit(10), "exit status after SIGTERM");
      System.out.printf("SIGTERM: agent exited after %d ms%n",
          (System.nanoTime() - t0) / 1_000_000);
      assertNothingLeft(pids);
    }
  }

  @Test
  void shutdownRequestEndsEverySession() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        Host h = Host.open(agent.tcp())) {
      List<Long> pids = startSessions(h);
      long t0 = System.nanoTime();
      assertEquals(Host.ok("sd"), h.call(new io.vertx.core.json.JsonObject().put("id", "sd")
          .put("type", "shutdown")));
      assertEquals(0, agent.awaitExit(10));
      System.out.printf("shutdown request: agent exited after %d ms%n",
          (System.nanoTime() - t0) / 1_000_000);
      assertNothingLeft(pids);
    }
  }
}
