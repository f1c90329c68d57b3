package config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The containment keys: {@code cgroups} (auto or off) and {@code pids_max} (0 for no limit). */
class ContainmentConfigTest {
  @Test
  void defaultsUseCgroupsWithAPidsLimit() throws Exception {
    AgentConfig c = ConfigLoader.load(null, Map.of(), Map.of());
    assertTrue(c.cgroups());
    assertEquals(4096, c.pidsMax());
  }

  @Test
  void theEnvironmentSwitchesCgroupsOffAndSetsTheLimit() throws Exception {
    AgentConfig c = ConfigLoader.load(null, Map.of("AGENT_CGROUPS", "off",
        "AGENT_PIDS_MAX", "0"), Map.of());
    assertFalse(c.cgroups());
    assertEquals(0, c.pidsMax());
  }

  @Test
  void badValuesAreRefusedByName() {
    ConfigException e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(null, Map.of("AGENT_CGROUPS", "sometimes"), Map.of()));
    assertEquals("key 'cgroups' must be \"auto\" or \"off\", not \"sometimes\"", e.getMessage());
    e = assertThrows(ConfigException.class,
        () -> ConfigLoader.load(null, Map.of("AGENT_PIDS_MAX", "-1"), Map.of()));
    assertEquals("key 'pids_max' must be between 0 and 4194304, not -1", e.getMessage());
  }
}
