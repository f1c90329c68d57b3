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
    assertTrue(fitted.maxRuns() >= 16 && fitted.maxSessions() >= 8);
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
    AgentConfig c = new AgentConfig(AgentConfig.defaults().listen(), null, 1024, 64, 256, 64,
        1024 * 1024, 4 * MIB, 1024 * MIB, 600_000, 500, 64 * MIB, null, "text", "info", 1024,
        64 * MIB, 30_000, 30_000, true, 4096);
    ConfigException e = assertThrows(ConfigException.class,
        () -> MemoryPlan.fit(c, Set.of("run_output_budget_bytes"), AGENT_HEAP));
    assertTrue(e.getMessage().contains("run_output_budget_bytes"), e.getMessage());
    assertTrue(e.getMessage().contains("worst case"), e.getMessage());
  }
}
