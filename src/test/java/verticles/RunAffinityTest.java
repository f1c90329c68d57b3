package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import support.AgentProcess;

/**
 * A run is served on the event loop of the connection that sent it: handing it to the run
 * verticle and answering it wake no other event loop; and the whole agent hands a run between its
 * threads a fixed, small number of times. Counted, not timed: the kernel's count of each thread's
 * sleeps (voluntary context switches) over runs sent one at a time.
 */
class RunAffinityTest {
  private static final int RUNS = 200;
  /** What the Linux kernel keeps of a Vert.x event-loop thread's name (15 characters). */
  private static final String LOOP_COMM = "vert.x-eventloo";

  @Test
  void runsWakeOnlyTheConnectionsEventLoop() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(agent.tcp())) {
      // Classes loaded, the spawning pool and the reactor started.
      runOneAtATime(c, "warm", 20);
      Map<String, Long> before = sleeps(agent.pid(), LOOP_COMM::equals);
      assertEquals(Main.EVENT_LOOPS, before.size(), () -> "event-loop threads: " + before);
      runOneAtATime(c, "r", RUNS);
      Map<String, Long> after = sleeps(agent.pid(), LOOP_COMM::equals);
      List<Long> woken = new ArrayList<>();
      for (Map.Entry<String, Long> e : after.entrySet()) {
        woken.add(e.getValue() - before.getOrDefault(e.getKey(), 0L));
      }
      woken.sort(null);
      long busiest = woken.get(woken.size() - 1);
      long others = woken.stream().mapToLong(Long::longValue).sum() - busiest;
      // The connection's loop sleeps between runs and wakes for each request at least.
      assertTrue(busiest >= RUNS, () -> "the connection's loop woke " + woken);
      // Runs served on another loop would wake that loop for each request, and again to answer.
      assertTrue(others < RUNS / 4, () -> "wakes per event loop over " + RUNS + " runs: "
          + woken);
    }
  }

  /**
   * Each thread that takes part in a run sleeps about once per hand-off. Per run now: the
   * connection's loop two to three times (the request; the pipes' ends, which it reads itself;
   * the exit, unless the reaper hands it over while the loop is still awake), the reaper once
   * (the exit: with the agent's sentinel it always has a child to wait for, and never parks). The
   * run's child is started on the loop, so no spawning thread takes part, and its pipes are the
   * loop's, so the reactor does not either. Without the sentinel the reaper slept twice per run;
   * before the engine handed runs over less, the engine threads slept about 8 times per run
   * (without a gate) and the loops 5 times.
   */
  @Test
  void aRunIsHandedBetweenThreadsAFixedFewTimes() throws Exception {
    java.util.function.Predicate<String> engine = name -> name.startsWith("process-")
        || name.equals("containment") || name.startsWith("CompletableFu");
    try (AgentProcess agent = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(agent.tcp())) {
      runOneAtATime(c, "warm", 20);
      Map<String, Long> loops0 = sleeps(agent.pid(), LOOP_COMM::equals);
      Map<String, Long> engine0 = sleeps(agent.pid(), engine);
      runOneAtATime(c, "r", RUNS);
      long loops = sum(sleeps(agent.pid(), LOOP_COMM::equals)) - sum(loops0);
      Map<String, Long> engine1 = sleeps(agent.pid(), engine);
      long engineSleeps = sum(engine1) - sum(engine0);
      assertTrue(loops <= RUNS * 7 / 2, () -> "event loops slept " + loops + " times over "
          + RUNS + " runs");
      assertTrue(engineSleeps <= RUNS * 3 / 2, () -> "engine threads slept " + engineSleeps
          + " times over " + RUNS + " runs: " + engine0 + " -> " + engine1);
    }
  }

  private static long sum(Map<String, Long> m) {
    return m.values().stream().mapToLong(Long::longValue).sum();
  }

  /** Sends {@code n} runs of /bin/true, each after the previous one's answer. */
  private static void runOneAtATime(AgentConnection c, String prefix, int n) throws IOException {
    for (int i = 0; i < n; i++) {
      String id = prefix + i;
      c.send(ProtocolSupport.run(id, "/bin/true"));
      JsonObject r = c.receive();
      assertEquals(id, r.getString("id"), r::toString);
      assertEquals(0, r.getInteger("exit_code"), r::toString);
    }
  }

  /** Each thread of process {@code pid} whose name {@code named}: how many times it slept. */
  private static Map<String, Long> sleeps(long pid, java.util.function.Predicate<String> named)
      throws IOException {
    Map<String, Long> sleeps = new HashMap<>();
    try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
      for (Path t : (Iterable<Path>) tasks::iterator) {
        if (!named.test(Files.readString(t.resolve("comm")).strip())) {
          continue;
        }
        for (String line : Files.readAllLines(t.resolve("status"))) {
          if (line.startsWith("voluntary_ctxt_switches:")) {
            sleeps.put(t.getFileName().toString(),
                Long.parseLong(line.substring(line.indexOf(':') + 1).strip()));
          }
        }
      }
    }
    return sleeps;
  }
}
