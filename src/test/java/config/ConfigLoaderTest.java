package config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Defaults, then the file, then the environment, then the command line; every value checked. */
class ConfigLoaderTest {
  @TempDir
  Path tmp;

  private Path file(String json) throws Exception {
    Path f = tmp.resolve("agent.json");
    Files.writeString(f, json);
    return f;
  }

  private static String refused(Path file, Map<String, String> env, Map<String, Object> over) {
    return assertThrows(ConfigException.class, () -> ConfigLoader.load(file, env, over))
        .getMessage();
  }

  @Test
  void withNothingGivenTheDefaultsHold() throws Exception {
    AgentConfig c = ConfigLoader.load(null, Map.of(), Map.of());
    assertEquals(List.of(AgentConfig.DEFAULT_LISTEN), c.listen());
    assertNull(c.authToken());
    assertEquals("text", c.logFormat());
    assertEquals("info", c.logLevel());
    assertNull(c.metrics());
  }

  @Test
  void laterSourcesWin() throws Exception {
    Path f = file("{\"log_level\":\"debug\",\"log_format\":\"json\",\"max_runs\":7,"
        + "\"metrics\":\"127.0.0.1:9\"}");
    AgentConfig fromFile = ConfigLoader.load(f, Map.of(), Map.of());
    assertEquals("debug", fromFile.logLevel());
    assertEquals(7, fromFile.maxRuns());
    AgentConfig fromEnv = ConfigLoader.load(f, Map.of("AGENT_LOG_LEVEL", "warn",
        "AGENT_LISTEN", "unix:/a, tcp://127.0.0.1:1,"), Map.of());
    assertEquals("warn", fromEnv.logLevel());
    assertEquals(List.of("unix:/a", "tcp://127.0.0.1:1"), fromEnv.listen());
    assertEquals("json", fromEnv.logFormat(), "what the environment does not name stays");
    AgentConfig fromArgs = ConfigLoader.load(f, Map.of("AGENT_LOG_LEVEL", "warn"),
        Map.of("log_level", "ERROR", "listen", List.of("unix:/b")));
    assertEquals("error", fromArgs.logLevel());
    assertEquals(List.of("unix:/b"), fromArgs.listen());
  }

  @Test
  void nullInTheFileMeansTheDefault() throws Exception {
    assertNull(ConfigLoader.load(file("{\"metrics\":null}"), Map.of(), Map.of()).metrics());
  }

  @Test
  void theTokenFileIsReadAndTrimmed() throws Exception {
    Path token = tmp.resolve("token");
    Files.writeString(token, "  s3cret\n");
    assertEquals("s3cret", ConfigLoader.load(null, Map.of(),
        Map.of("auth_token_file", token.toString())).authToken());
    assertEquals("direct", ConfigLoader.load(null, Map.of("AGENT_AUTH_TOKEN", "direct"),
        Map.of("auth_token_file", token.toString())).authToken(), "a token given wins");
  }

  @Test
  void badValuesAreRefusedByName() throws Exception {
    Path f = file("{\"bogus\":1}");
    assertTrue(refused(f, Map.of(), Map.of()).startsWith(f + ": unknown key 'bogus' (known: "));
    Path g = file("[1]");
    assertEquals(g + ": expected a JSON object", refused(g, Map.of(), Map.of()));
    assertEquals("key 'max_runs' must be a whole number, not \"many\"",
        refused(null, Map.of("AGENT_MAX_RUNS", "many"), Map.of()));
    assertEquals("key 'max_runs' must be between 1 and 1000000, not 0",
        refused(null, Map.of(), Map.of("max_runs", "0")));
    assertEquals("key 'log_format' must be \"text\" or \"json\", not \"xml\"",
        refused(null, Map.of(), Map.of("log_format", "xml")));
    assertEquals("key 'log_level' must be one of error, warn, info, debug",
        refused(null, Map.of(), Map.of("log_level", "loud")));
    assertEquals("key 'listen' must name at least one address",
        refused(null, Map.of("AGENT_LISTEN", " , "), Map.of()));
    assertEquals("key 'auth_token' must not be empty",
        refused(null, Map.of("AGENT_AUTH_TOKEN", ""), Map.of()));
    assertEquals("key 'cgroups' must be \"auto\" or \"off\", not \"maybe\"",
        refused(null, Map.of(), Map.of("cgroups", "maybe")));
    Path missing = tmp.resolve("none.json");
    assertEquals("cannot read config file " + missing + ": no such file or directory",
        refused(missing, Map.of(), Map.of()));
  }
}
