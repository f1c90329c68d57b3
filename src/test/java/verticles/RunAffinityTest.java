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
 * verticle and answering it wake no other event loop. Counted, not timed: the kernel's count of
 * each event-loop thread's sleeps (voluntary context switches) over runs sent one at a time.
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
      Map<String, Long> before = loopSleeps(agent.pid());
      assertEquals(Main.EVENT_LOOPS, before.size(), () -> "event-loop threads: " + before);
      runOneAtATime(c, "r", RUNS);
      Map<String, Long> after = loopSleeps(agent.pid());
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

  /** Each event-loop thread of process {@code pid}: how many times it has slept. */
  private static Map<String, Long> loopSleeps(long pid) throws IOException {
    Map<String, Long> sleeps = new HashMap<>();
    try (var tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
      for (Path t : (Iterable<Path>) tasks::iterator) {
        if (!Files.readString(t.resolve("comm")).strip().equals(LOOP_COMM)) {
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
