package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import process.Sentinel;
import process.ProcStat;
import support.AgentProcess;
import support.Poll;
import support.Procs;

/**
 * The agent's sentinel: one idle child, so that the reaper always has a child to wait for. It runs
 * nothing of the VM's, holds nothing but its end of a pipe from the agent, ends with the agent
 * however the agent ends, is left alone by the kills of runs, and comes back, at most once a
 * second, after code in the VM kills it.
 */
class SentinelTest {
  private static final long BOUND_MS = 20_000;

  @Test
  void theSentinelIsOneIdleChildThatDiesWithAKilledAgent() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      long sentinel = firstSentinel(agent, c);
      ProcStat stat = ProcStat.read(sentinel);
      assertEquals(sentinel, stat.session(), "the sentinel leads a session of its own");
      assertEquals(Sentinel.NAME + "\0",
          Files.readString(Path.of("/proc/" + sentinel + "/cmdline")));
      try (var fds = Files.list(Path.of("/proc/" + sentinel + "/fd"))) {
        List<Path> held = fds.toList();
        assertEquals(1, held.size(), () -> "the sentinel holds " + held);
        assertTrue(Files.readSymbolicLink(held.get(0)).toString().startsWith("pipe:"),
            () -> "its stdin: " + held);
      }
      String status = Files.readString(Path.of("/proc/" + sentinel + "/status"));
      assertTrue(status.contains("SigBlk:\t0000000000000000")
          && status.contains("SigIgn:\t0000000000000000"), status);
      agent.process().destroyForcibly();
      agent.awaitExit(30);
      Poll.until("the sentinel outlived its agent", BOUND_MS, () -> !alive(sentinel));
    }
  }

  @Test
  void killsOfRunsAndAShutdownLeaveTheSentinelUntilTheEnd() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady()) {
      long sentinel;
      try (AgentConnection c = AgentConnection.open(agent.unix())) {
        sentinel = firstSentinel(agent, c);
        // A timeout and a run left running then killed with its connection: each kill first
        // looks for strays in the agent's own cgroup, where the sentinel is.
        JsonObject t = c.call(ProtocolSupport.run("slow", "sleep", "30").put("timeout_ms", 200));
        assertEquals(124, t.getInteger("exit_code"), t::encode);
        c.send(ProtocolSupport.run("left", "sleep", "30"));
        Poll.until("the sleep did not start", BOUND_MS,
            () -> Procs.descendants(agent.pid()).anyMatch(p -> p.info().commandLine()
                .orElse("").contains("sleep 30")));
      }
      Poll.until("the sleep outlived its connection", BOUND_MS,
          () -> Procs.descendants(agent.pid()).count() == 0);
      try (AgentConnection c = AgentConnection.open(agent.unix())) {
        assertEquals(0, c.call(ProtocolSupport.run("t2", "/bin/true")).getInteger("exit_code"));
        assertEquals(sentinel, sentinelOf(agent), "a kill of a run took the sentinel");
        assertEquals(0, c.call(new JsonObject().put("id", "bye").put("type", "shutdown"))
            .getInteger("exit_code"));
      }
      assertEquals(0, agent.awaitExit(10));
      Poll.until("the sentinel outlived its agent", BOUND_MS, () -> !alive(sentinel));
      assertTrue(agent.log().stream().noneMatch(l -> l.contains("sentinel_ended")),
          () -> String.join("\n", agent.log()));
    }
  }

  /**
   * Killed, the sentinel is started again once the agent has no child, and no more often than once
   * a second however often it is killed; runs are answered all along.
   */
  @Test
  void aKilledSentinelComesBackAtMostOnceASecond() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      long first = firstSentinel(agent, c);
      long t0 = System.nanoTime();
      int runs = 0;
      // Each sentinel seen is killed at once, while runs go on, for a little over two seconds.
      java.util.Set<Long> killed = new java.util.HashSet<>();
      while (System.nanoTime() - t0 < 2_200_000_000L) {
        JsonObject r = c.call(ProtocolSupport.run("r" + runs, "/bin/true"));
        assertEquals(0, r.getInteger("exit_code"), r::encode);
        runs++;
        Procs.sentinels(agent.pid()).forEach(k -> {
          if (k.destroyForcibly()) {
            killed.add(k.pid());
          }
        });
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      int answered = runs;
      assertTrue(killed.contains(first), "the first sentinel was not seen: " + killed);
      // The first sentinel, then at most one a second after it.
      assertTrue(killed.size() <= 2 + (int) seconds, () -> killed.size() + " sentinels killed in "
          + seconds + " s over " + answered + " runs");
      assertTrue(killed.size() >= 2, "no sentinel was started again: " + killed);
      // Left alone, one comes back, and it is a new one.
      long next = 0;
      long deadline = System.nanoTime() + BOUND_MS * 1_000_000;
      while (next == 0) {
        assertTrue(System.nanoTime() < deadline, "no sentinel came back");
        assertEquals(0, c.call(ProtocolSupport.run("w", "/bin/true")).getInteger("exit_code"));
        next = Procs.sentinels(agent.pid()).mapToLong(ProcessHandle::pid).findFirst().orElse(0);
      }
      assertTrue(!killed.contains(next), "the sentinel " + next + " was killed already");
      assertNotEquals(first, next);
      Poll.until("the kills were not logged", BOUND_MS, () -> agent.log().stream()
          .filter(l -> l.contains("sentinel_ended")).count() == killed.size());
    }
  }

  /** The sentinel started with the agent's first run, a run of /bin/true sent on {@code c}. */
  private static long firstSentinel(AgentProcess agent, AgentConnection c) throws Exception {
    assertEquals(0, Procs.sentinels(agent.pid()).count(), "a sentinel before the first run");
    assertEquals(0, c.call(ProtocolSupport.run("t", "/bin/true")).getInteger("exit_code"));
    return sentinelOf(agent);
  }

  /**
   * The agent's one sentinel, once it has started something (the reaper starts it on its own
   * thread, maybe after the first run's answer).
   */
  private static long sentinelOf(AgentProcess agent) throws InterruptedException {
    Poll.until("no sentinel", BOUND_MS, () -> Procs.sentinels(agent.pid()).count() > 0);
    List<Long> sentinels = Procs.sentinels(agent.pid()).map(ProcessHandle::pid).toList();
    assertEquals(1, sentinels.size(), () -> "sentinels: " + sentinels);
    return sentinels.get(0);
  }

  /** Whether {@code pid} is there and not a zombie (this machine's init reaps late). */
  private static boolean alive(long pid) {
    ProcStat s = ProcStat.read(pid);
    return s != null && !s.zombie();
  }
}
