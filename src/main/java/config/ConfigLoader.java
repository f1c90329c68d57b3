package config;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Builds an {@link AgentConfig}: defaults, then the JSON file, then environment variables named
 * {@code AGENT_<KEY>} (upper case), then explicit overrides from the command line. Every key is
 * checked; an unknown key or a bad value is refused with a message that names it.
 */
public final class ConfigLoader {
  /** Every key, in the order the README's table lists them. */
  public static final List<String> KEYS = List.of("listen", "auth_token", "auth_token_file",
      "max_connections", "max_requests_per_connection", "max_runs", "max_sessions",
      "shell_backlog_bytes", "run_max_output_bytes", "run_output_budget_bytes",
      "session_idle_timeout_ms", "kill_grace_ms",
      "write_queue_max_bytes", "metrics", "log_format", "log_level",
      "listen_backlog", "frame_budget_bytes", "frame_timeout_ms", "write_stall_timeout_ms",
      "cgroups", "pids_max", "realtime_priority", "write_queue_budget_bytes",
      "request_budget_bytes", "run_stream_budget_bytes");

  private ConfigLoader() {}

  /**
   * @param file the JSON file, or null
   * @param env the environment
   * @param overrides values from the command line, by key (a list for {@code listen})
   */
  public static AgentConfig load(Path file, Map<String, String> env, Map<String, Object> overrides)
      throws ConfigException {
    Map<String, Object> values = new LinkedHashMap<>();
    if (file != null) {
      values.putAll(readFile(file));
    }
    for (String key : KEYS) {
      String v = env.get("AGENT_" + key.toUpperCase(Locale.ROOT));
      if (v != null) {
        values.put(key, key.equals("listen") ? splitList(v) : v);
      }
    }
    values.putAll(overrides);
    return MemoryPlan.fit(build(values, file == null ? "defaults" : file.toString()),
        values.keySet(), Runtime.getRuntime().maxMemory());
  }

  private static List<String> splitList(String v) {
    List<String> out = new ArrayList<>();
    for (String s : v.split(",")) {
      if (!s.isBlank()) {
        out.add(s.trim());
      }
    }
    return out;
  }

  private static Map<String, Object> readFile(Path file) throws ConfigException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new ConfigException("cannot read config file " + file + ": " + reason(e));
    }
    Map<String, Object> out = new LinkedHashMap<>();
    try (JsonParser p = new JsonFactory().createParser(bytes)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new ConfigException(file + ": expected a JSON object");
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String key = p.currentName();
        JsonToken t = p.nextToken();
        if (!KEYS.contains(key)) {
          throw new ConfigException(file + ": unknown key '" + key + "' (known: "
              + String.join(", ", KEYS) + ")");
        }
        if (t == JsonToken.START_ARRAY) {
          List<String> list = new ArrayList<>();
          while (p.nextToken() != JsonToken.END_ARRAY) {
            if (p.currentToken() != JsonToken.VALUE_STRING) {
              throw new ConfigException(file + ": key '" + key + "' must list strings");
            }
            list.add(p.getText());
          }
          out.put(key, list);
        } else if (t == JsonToken.VALUE_NULL) {
          out.remove(key);
        } else if (t.isScalarValue()) {
          out.put(key, p.getText());
        } else {
          throw new ConfigException(file + ": key '" + key + "' has a value of the wrong kind");
        }
      }
    } catch (IOException e) {
      throw new ConfigException(file + ": not valid JSON: " + e.getMessage());
    }
    return out;
  }

  private static AgentConfig build(Map<String, Object> v, String source) throws ConfigException {
    AgentConfig d = AgentConfig.defaults();
    List<String> listen = d.listen();
    Object l = v.get("listen");
    if (l instanceof List<?> list) {
      listen = list.stream().map(Object::toString).toList();
    } else if (l != null) {
      listen = splitList(l.toString());
    }
    if (listen.isEmpty()) {
      throw new ConfigException("key 'listen' must name at least one address");
    }
    String token = str(v, "auth_token", null);
    String tokenFile = str(v, "auth_token_file", null);
    if (token == null && tokenFile != null) {
      try {
        token = Files.readString(Path.of(tokenFile), StandardCharsets.UTF_8).strip();
      } catch (IOException e) {
        throw new ConfigException("key 'auth_token_file': cannot read " + tokenFile + ": "
            + reason(e));
      }
    }
    if (token != null && token.isEmpty()) {
      throw new ConfigException("key 'auth_token' must not be empty");
    }
    String logFormat = str(v, "log_format", d.logFormat());
    if (!logFormat.equals("text") && !logFormat.equals("json")) {
      throw new ConfigException("key 'log_format' must be \"text\" or \"json\", not \"" + logFormat
          + "\"");
    }
    String logLevel = str(v, "log_level", d.logLevel()).toLowerCase(Locale.ROOT);
    if (!List.of("error", "warn", "info", "debug").contains(logLevel)) {
      throw new ConfigException("key 'log_level' must be one of error, warn, info, debug");
    }
    return new AgentConfig(listen, token,
        (int) num(v, "max_connections", d.maxConnections(), 1, 1_000_000),
        (int) num(v, "max_requests_per_connection", d.maxRequestsPerConnection(), 1, 1_000_000),
        (int) num(v, "max_runs", d.maxRuns(), 1, 1_000_000),
        (int) num(v, "max_sessions", d.maxSessions(), 1, 100_000),
        (int) num(v, "shell_backlog_bytes", d.shellBacklogBytes(), 4096, 1L << 30),
        num(v, "run_max_output_bytes", d.runMaxOutputBytes(), 0, 1L << 40),
        num(v, "run_output_budget_bytes", d.runOutputBudgetBytes(), 1L << 20, 1L << 40),
        num(v, "session_idle_timeout_ms", d.sessionIdleTimeoutMs(), 1, Long.MAX_VALUE / 2),
        num(v, "kill_grace_ms", d.killGraceMs(), 0, 60_000),
        num(v, "write_queue_max_bytes", d.writeQueueMaxBytes(), 1L << 20, 1L << 40),
        str(v, "metrics", null), logFormat, logLevel,
        (int) num(v, "listen_backlog", d.listenBacklog(), 1, 65_535),
        num(v, "frame_budget_bytes", d.frameBudgetBytes(), 1L << 20, 1L << 40),
        num(v, "frame_timeout_ms", d.frameTimeoutMs(), 1, Long.MAX_VALUE / 2),
        num(v, "write_stall_timeout_ms", d.writeStallTimeoutMs(), 1, Long.MAX_VALUE / 2),
        cgroups(str(v, "cgroups", "auto")),
        num(v, "pids_max", d.pidsMax(), 0, 4_194_304),
        (int) num(v, "realtime_priority", d.realtimePriority(), 0, 99),
        num(v, "write_queue_budget_bytes", d.writeQueueBudgetBytes(), 1L << 20, 1L << 40),
        num(v, "request_budget_bytes", d.requestBudgetBytes(), 1L << 20, 1L << 40),
        num(v, "run_stream_budget_bytes", d.runStreamBudgetBytes(), 0, 1L << 40));
  }

  /** Why a file could not be read, in the system's words, without repeating its name. */
  static String reason(IOException e) {
    if (e instanceof java.nio.file.NoSuchFileException) {
      return "no such file or directory";
    }
    if (e instanceof java.nio.file.AccessDeniedException) {
      return "permission denied";
    }
    if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) {
      return f.getReason().toLowerCase(Locale.ROOT);
    }
    String m = e.getMessage();
    return m == null ? e.getClass().getSimpleName() : m.toLowerCase(Locale.ROOT);
  }

  private static boolean cgroups(String v) throws ConfigException {
    return switch (v.toLowerCase(Locale.ROOT)) {
      case "auto", "true" -> true;
      case "off", "false" -> false;
      default -> throw new ConfigException("key 'cgroups' must be \"auto\" or \"off\", not \""
          + v + "\"");
    };
  }

  private static String str(Map<String, Object> v, String key, String dflt) {
    Object o = v.get(key);
    return o == null ? dflt : o.toString();
  }

  private static long num(Map<String, Object> v, String key, long dflt, long min, long max)
      throws ConfigException {
    Object o = v.get(key);
    if (o == null) {
      return dflt;
    }
    long n;
    try {
      n = Long.parseLong(o.toString().trim());
    } catch (NumberFormatException e) {
      throw new ConfigException("key '" + key + "' must be a whole number, not \"" + o + "\"");
    }
    if (n < min || n > max) {
      throw new ConfigException("key '" + key + "' must be between " + min + " and " + max
          + ", not " + n);
    }
    return n;
  }
}
