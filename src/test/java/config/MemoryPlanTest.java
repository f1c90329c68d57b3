package config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The limits together fit the heap: scaled down where they are defaults, refused otherwise. */
class MemoryPlanTest {
  private static final long MIB = 1024 * 1024;
  /** What Runtime.maxMemory() reports under bin/agent's -Xmx192m with the serial collector. */
  private static final long AGENT_HEAP = 185 * MIB;
  private static final int MIB_I = 1024 * 1024;

  @Test
  void theDefaultsAreScaledDownToFitTheHeapOfBinAgent() throws Exception {
    AgentConfig d = AgentConfig.defaults();
    assertTrue(MemoryPlan.worstCase(d) > AGENT_HEAP, "the defaults alone would not fit");
    AgentConfig fitted = MemoryPlan.fit(d, Set.of(), AGENT_HEAP);
    assertTrue(MemoryPlan.worstCase(fitted) <= AGENT_HEAP, MemoryPlan.describe(fitted,
        AGENT_HEAP));
    // Only the byte and count limits the plan may scale change; nothing else.
    assertEquals(d.maxConnections(), fitted.maxConnections());
    assertEquals(d.maxRequestsPerConnection(), fitted.maxRequestsPerConnection());
    assertEquals(d.runMaxOutputBytes(), fitted.runMaxOutputBytes());
    // The byte budgets give way first: under bin/agent's heap the counts stay as they are.
    assertEquals(256, fitted.maxRuns(), MemoryPlan.describe(fitted, AGENT_HEAP));
    assertEquals(64, fitted.maxSessions(), MemoryPlan.describe(fitted, AGENT_HEAP));
    // Every budget over all connections still holds a whole frame of 10 MiB.
    assertTrue(fitted.frameBudgetBytes() > 10 * MIB);
    assertTrue(fitted.requestBudgetBytes() > 10 * MIB);
    assertTrue(fitted.writeQueueBudgetBytes() > 10 * MIB);
  }

  @Test
  void theWorstCaseAddsUpEveryTerm() {
    // A distinct value for each key, so that a term left out or counted twice shows.
    AgentConfig c = AgentConfig.defaults().toBuilder().maxRuns(100).maxSessions(10)
        .shellBacklogBytes(3 * MIB_I).runMaxOutputBytes(4 * MIB).runOutputBudgetBytes(5 * MIB)
        .frameBudgetBytes(7 * MIB).writeQueueBudgetBytes(11 * MIB).requestBudgetBytes(13 * MIB)
        .runStreamBudgetBytes(17 * MIB).build();
    long expected = 16 * MIB // at rest
        + 2 * 2 * 10 * MIB // answers being written: 2 event loops x 2 copies x a frame
        + 4 * 10 * MIB // a request being parsed on the listener's loop
        + 7 * MIB // incomplete frames: frame_budget_bytes
        + 2 * 13 * MIB // requests being served: request_budget_bytes x 2
        + 11 * MIB // answers to hosts: write_queue_budget_bytes
        + 2 * 5 * MIB // run output: run_output_budget_bytes x 2 (its answer as text)
        // streamed runs: (reserves + run_stream_budget_bytes) x (buffer + base64 frame)
        + (100 * 2 * 8 * 1024 + 17 * MIB) * 7 / 3
        // shell backlogs: max_sessions x (shell_backlog_bytes + one terminal read past it)
        + 10 * (3 * MIB + 4 * 1024)
        + 10 * 256 * 1024 * 4 / 3 // session output in writing: a window each, base64
        + 10 * 48 * 1024; // shell requests kept: max_sessions x (id and command)
    assertEquals(expected, MemoryPlan.worstCase(c), MemoryPlan.describe(c, 0));
    assertEquals(11, MemoryPlan.terms(c).size());
    String d = MemoryPlan.describe(c, 0);
    for (String key : new String[] {"frame_budget_bytes", "request_budget_bytes",
        "write_queue_budget_bytes", "run_output_budget_bytes", "run_stream_budget_bytes",
        "max_runs", "max_sessions", "shell_backlog_bytes"}) {
      assertTrue(d.contains(key), key + " in\n" + d);
    }
  }

  @Test
  void aSmallBacklogCountsWhatItHoldsPastItsLimitInFlightToo() {
    AgentConfig c = AgentConfig.defaults().toBuilder().maxSessions(2).shellBacklogBytes(1000)
        .build();
    assertEquals(stream.OutputBuffer.DETACHED_READ, MemoryPlan.BACKLOG_PAST_LIMIT);
    assertEquals(2 * (1000 + 4096), MemoryPlan.backlogs(c));
    assertEquals(2 * (1000 + 4096) * 4 / 3, MemoryPlan.shellFrames(c));
  }

  @Test
  void theCountsAreHalvedOnlyOnceEveryBudgetIsAtItsFloor() throws Exception {
    // Every budget at its floor comes to 183.6 MiB with 256 runs and 64 sessions.
    AgentConfig fitted = MemoryPlan.fit(AgentConfig.defaults(), Set.of(), 175 * MIB);
    String d = MemoryPlan.describe(fitted, 175 * MIB);
    assertTrue(MemoryPlan.worstCase(fitted) <= 175 * MIB, d);
    assertTrue(fitted.maxRuns() < 256 || fitted.maxSessions() < 64, d);
    assertEquals(12 * MIB, fitted.frameBudgetBytes(), d);
    assertEquals(12 * MIB, fitted.requestBudgetBytes(), d);
    assertEquals(12 * MIB, fitted.writeQueueBudgetBytes(), d);
    assertEquals(4 * MIB, fitted.runOutputBudgetBytes(), d);
    assertEquals(2 * MIB, fitted.runStreamBudgetBytes(), d);
    assertEquals(64 * 1024, fitted.shellBacklogBytes(), d);
  }

  @Test
  void aLargeHeapKeepsTheDefaults() throws Exception {
    AgentConfig d = AgentConfig.defaults();
    assertEquals(d, MemoryPlan.fit(d, Set.of(), 4096 * MIB));
  }

  @Test
  void explicitValuesAreNeverScaledAndOthersMakeRoomForThem() throws Exception {
    AgentConfig c = ConfigLoader.load(null, Map.of(), Map.of("max_runs", "200"));
    AgentConfig fitted = MemoryPlan.fit(c, Set.of("max_runs"), 400 * MIB);
    assertEquals(200, fitted.maxRuns());
    assertTrue(MemoryPlan.worstCase(fitted) <= 400 * MIB);
  }

  @Test
  void theShippedConfigurationSpellsOutDefaultsAndStillFits() throws Exception {
    // conf/agent.json sets the limits to their defaults: they scale like defaults.
    AgentConfig c = ConfigLoader.load(java.nio.file.Path.of("conf/agent.json"), Map.of(),
        Map.of());
    AgentConfig fitted = MemoryPlan.fit(c, Set.of("max_runs", "max_sessions",
        "shell_backlog_bytes"), AGENT_HEAP);
    assertTrue(MemoryPlan.worstCase(fitted) <= AGENT_HEAP);
  }

  @Test
  void explicitValuesThatCannotFitAreRefusedWithTheArithmetic() {
    AgentConfig c = AgentConfig.defaults().toBuilder().runOutputBudgetBytes(1024 * MIB).build();
    ConfigException e = assertThrows(ConfigException.class,
        () -> MemoryPlan.fit(c, Set.of("run_output_budget_bytes"), AGENT_HEAP));
    assertTrue(e.getMessage().contains("run_output_budget_bytes"), e.getMessage());
    assertTrue(e.getMessage().contains("worst case"), e.getMessage());
  }
}
