package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;

/**
 * What the agent writes to stderr: with {@code --log-format json}, one JSON object per line and
 * never a request body, a file's content or a command's arguments; and, for a configuration it
 * cannot use, a non-zero exit with a message that names the key.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LogConfigTest {
  private static final Set<String> LEVELS = Set.of("error", "warn", "info", "debug");

  /** The folders for the configuration files and the refused agents' sockets. */
  @TempDir
  Path tmp;

  @Test
  void jsonLogIsOneObjectPerLineAndNeverCarriesBodies(@TempDir Path dir) throws Exception {
    String tag = UUID.randomUUID().toString();
    String content = "file-content-" + tag;
    String argument = "run-argument-" + tag;
    String typed = "typed-input-" + tag;
    String envValue = "env-value-" + tag;
    List<String> secrets = new ArrayList<>(List.of(content, argument, typed, envValue, tag));
    for (String s : List.copyOf(secrets)) {
      secrets.add(Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8)));
    }

    String unix = "unix:" + dir.resolve("agent.sock");
    try (AgentProcess agent = AgentProcess.launch(dir, List.of("--listen", unix, "--listen",
        "tcp://127.0.0.1:0", "--log-format", "json", "--log-level", "debug"), Map.of())) {
      awaitLine(agent, l -> l.contains("\"event\":\"ready\""));
      String tcp = agent.log().stream().filter(l -> l.contains("\"event\":\"listening\""))
          .map(l -> new JsonObject(l).getString("address")).filter(a -> a.startsWith("tcp://"))
          .findFirst().orElseThrow();
      String file = dir.resolve("work/note.txt").toString();
      try (AgentConnection u = AgentConnection.open(unix);
          AgentConnection t = AgentConnection.open(tcp)) {
        assertEquals(0, u.call(req("w", "write_file").put("path", file).put("content_base64",
            Base64.getEncoder().encodeToString(content.getBytes(StandardCharsets.UTF_8))))
            .getInteger("exit_code"));
        JsonObject read = t.call(req("r", "read_file").put("path", file));
        assertEquals(content, new String(Base64.getDecoder().decode(
            read.getString("content_base64")), StandardCharsets.UTF_8));
        JsonObject ran = t.call(req("e", "run").put("command", new JsonArray().add("sh")
            .add("-c").add("echo \"$1 $SECRET\"").add("sh").add(argument))
            .put("env", new JsonObject().put("SECRET", envValue)));
        assertEquals(argument + " " + envValue + "\n", ran.getString("stdout"));
        // An invalid request is logged as a warning, with its id but not its body.
        assertTrue(t.call(req("bad", "run").put("command", argument)).getString("error")
            .startsWith("Invalid request"));

        // A shell session: typed input and terminal output stay out of the log too.
        JsonObject started = u.call(req("s", "shell").put("command",
            new JsonArray().add("/bin/sh")));
        String session = started.getString("session_id");
        String input = "echo " + typed + "-$((6*7))\n";
        u.send(req("i", "shell_input").put("session_id", session).put("input_base64",
            Base64.getEncoder().encodeToString(input.getBytes(StandardCharsets.UTF_8))));
        // Read the answer and the terminal's output, in whatever order they come.
        StringBuilder screen = new StringBuilder();
        boolean answered = false;
        while (!answered || screen.indexOf(typed + "-42") < 0) {
          JsonObject ev = u.receive();
          if ("output".equals(ev.getString("shell_event"))) {
            screen.append(new String(Base64.getDecoder().decode(ev.getString("output_base64")),
                StandardCharsets.UTF_8));
          } else if ("i".equals(ev.getString("id"))) {
            assertEquals(0, ev.getInteger("exit_code"), ev.encode());
            answered = true;
          }
        }
        u.call(req("c", "shell_close").put("session_id", session));
      }
      awaitLine(agent, l -> l.contains("\"event\":\"connection_closed\"")
          && agent.log().stream().filter(x -> x.contains("\"event\":\"connection_closed\""))
              .count() == 2);
      try (AgentConnection c = AgentConnection.open(unix)) {
        assertEquals(0, c.call(req("bye", "shutdown")).getInteger("exit_code"));
      }
      assertEquals(0, agent.awaitExit(10));
      awaitLine(agent, l -> l.contains("\"event\":\"shutdown\""));

      Set<String> events = new HashSet<>();
      for (String line : agent.log()) {
        JsonObject o = new JsonObject(line);
        Instant.parse(o.getString("time"));
        assertTrue(LEVELS.contains(o.getString("level")), line);
        String event = o.getString("event");
        assertFalse(event == null || event.isEmpty(), line);
        events.add(event);
        if (event.startsWith("connection_") || event.equals("request")
            || event.equals("invalid_request") || event.equals("shell_started")) {
          assertTrue(o.getValue("connection") instanceof String, "no connection in " + line);
        }
        if (event.startsWith("shell_")) {
          assertEquals(session(agent), o.getString("session"), line);
        }
        for (String s : secrets) {
          assertFalse(line.contains(s), "the log carries " + s + ": " + line);
        }
      }
      assertTrue(events.containsAll(Set.of("listening", "ready", "connection_opened",
          "request", "invalid_request", "shell_started", "shell_closed", "connection_closed",
          "shutdown")), events.toString());
    }
  }

  /** The one session id that the shell_started line names. */
  private static String session(AgentProcess agent) {
    return agent.log().stream().filter(l -> l.contains("\"event\":\"shell_started\""))
        .map(l -> new JsonObject(l).getString("session")).findFirst().orElseThrow();
  }

  @Test
  void unknownKeyInTheConfigFileStopsTheAgent() throws Exception {
    assertRefused(conf(new JsonObject().put("listen", new JsonArray().add("tcp://127.0.0.1:0"))
        .put("max_runz", 4)), Map.of(), 2, "'max_runz'");
  }

  @Test
  void badValuesInTheConfigFileStopTheAgent() throws Exception {
    assertRefused(conf(new JsonObject().put("max_runs", "lots")), Map.of(), 2, "'max_runs'");
    assertRefused(conf(new JsonObject().put("log_format", "xml")), Map.of(), 2, "'log_format'");
    assertRefused(conf(new JsonObject().put("listen", new JsonArray().add("tcp://127.0.0.1:0"))
        .put("metrics", "127.0.0.1:99999")), Map.of(), 1, "'metrics'");
  }

  @Test
  void badValuesInTheEnvironmentStopTheAgent() throws Exception {
    List<String> args = List.of("--listen", "tcp://127.0.0.1:0");
    assertRefused(args, Map.of("AGENT_MAX_RUNS", "lots"), 2, "'max_runs'");
    assertRefused(args, Map.of("AGENT_LOG_LEVEL", "loud"), 2, "'log_level'");
    assertRefused(args, Map.of("AGENT_KILL_GRACE_MS", "-5"), 2, "'kill_grace_ms'");
    assertRefused(args, Map.of("AGENT_METRICS", "no-port-here"), 1, "'metrics'");
  }

  /**
   * Variables that merely start with AGENT_ are not configuration: bin/agent reads AGENT_JAR
   * and AGENT_JAVA_OPTS, and a cluster may add variables of its own.
   */
  @Test
  void otherAgentVariablesAreNotConfiguration(@TempDir Path dir) throws Exception {
    String unix = "unix:" + dir.resolve("agent.sock");
    try (AgentProcess agent = AgentProcess.launch(dir, List.of("--listen", unix),
        Map.of("AGENT_JAVA_OPTS", "-Xmx1g", "AGENT_NOT_A_KEY", "1")).awaitReady();
        AgentConnection c = AgentConnection.open(unix)) {
      assertEquals(0, c.call(req("p", "ping")).getInteger("exit_code"));
    }
  }

  private List<String> conf(JsonObject config) throws Exception {
    Path dir = Files.createTempDirectory(tmp, "conf");
    Path file = dir.resolve("agent.json");
    Files.writeString(file, config.encodePrettily());
    return List.of("--conf", file.toString());
  }

  /** Starts the agent, expects it to exit with {@code code} and to name the key on stderr. */
  private void assertRefused(List<String> args, Map<String, String> env, int code,
      String key) throws Exception {
    Path dir = Files.createTempDirectory(tmp, "refused");
    try (AgentProcess agent = AgentProcess.launch(dir, args, env)) {
      int exit = agent.awaitExit(20);
      assertNotEquals(0, exit);
      assertEquals(code, exit, agent.log().toString());
      awaitLine(agent, l -> l.contains(key));
      assertTrue(agent.log().stream().noneMatch(l -> l.contains(" ready ")), agent.log()
          .toString());
    }
  }

  private static JsonObject req(String id, String type) {
    return new JsonObject().put("id", id).put("type", type);
  }

  /** Waits until a stderr line matches (a bound that only catches hangs). */
  private static void awaitLine(AgentProcess agent, Predicate<String> match)
      throws InterruptedException {
    support.Poll.until("a matching line in the log", 30_000,
        () -> agent.log().stream().anyMatch(match));
  }
}
