package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import support.SharedAgent;

/**
 * Seeded fuzzing of the wire: thousands of generated frames (random bytes, cut JSON, wrong types
 * in every field, unknown types, huge strings). Every frame must get one well-formed answer, or the
 * connection a clean close, and the agent must still answer a ping afterwards. The seed is fixed
 * (override with -Dfuzz.seed=N) and printed with every failure.
 */
class FuzzTest {
  private static final long SEED = Long.getLong("fuzz.seed", 0x5EEDL);
  private static final int FRAMES = Integer.getInteger("fuzz.frames", 6000);
  /** Every field a request may carry. */
  private static final List<String> FIELDS = List.of("id", "type", "command", "cwd", "env", "path",
      "content_base64", "recursive", "session_id", "rows", "cols", "input_base64", "timeout_ms",
      "stdin_base64", "max_output_bytes", "output_encoding", "stream", "offset", "length",
      "append", "mode", "new_path", "auth_token");
  /** Every type but shutdown, which would end the run. */
  private static final List<String> TYPES = List.of("run", "shell", "shell_input",
      "shell_resize", "shell_close", "ping", "write_file", "read_file", "remove_file", "mkdir",
      "stat", "list_dir", "rename", "shell_attach", "list_sessions", "info");

  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();
  static Path sandbox;

  @BeforeAll
  static void start() throws Exception {
    sandbox = Files.createTempDirectory("fuzz");
  }

  @Test
  void everyGeneratedFrameGetsOneWellFormedAnswer() throws Exception {
    Random rnd = new Random(SEED);
    AgentConnection c = AgentConnection.open(agent.unix());
    int answered = 0;
    for (int i = 0; i < FRAMES; i++) {
      byte[] body = body(rnd, i);
      String expectId = expectedId(body);
      c.writeFrame(body);
      JsonObject r = next(c, expectId, i, body);
      assertWellFormed(r, i, body);
      answered++;
    }
    c.close();
    assertEquals(FRAMES, answered);
    assertAlive();
  }

  @Test
  void rawGarbageEndsInAnAnswerOrACleanClose() throws Exception {
    Random rnd = new Random(SEED + 1);
    for (int i = 0; i < 300; i++) {
      try (AgentConnection c = AgentConnection.open(i % 2 == 0 ? agent.unix() : agent.tcp())) {
        byte[] junk = new byte[1 + rnd.nextInt(64)];
        rnd.nextBytes(junk);
        c.writeRaw(junk);
        // The agent answers what it could read as frames; a cut-off frame is simply pending.
        // Then the host closes; the agent must not crash nor hang on that.
      }
    }
    assertAlive();
  }

  private static void assertAlive() throws IOException {
    try (AgentConnection c = AgentConnection.open(agent.tcp())) {
      assertEquals(0, c.call(new JsonObject().put("id", "alive").put("type", "ping"))
          .getInteger("exit_code"));
    }
  }

  /** Reads frames until the one answering the fuzzed request; shell events are skipped. */
  private static JsonObject next(AgentConnection c, String expectId, int i, byte[] body)
      throws IOException {
    while (true) {
      JsonObject r;
      try {
        r = c.receive();
      } catch (EOFException e) {
        throw new AssertionError(ctx(i, body) + ": the agent closed the connection", e);
      }
      String ev = r.getString("shell_event");
      boolean event = "output".equals(ev) || ("exited".equals(ev)
          && !(isClose(body) && expectId.equals(r.getString("id"))));
      if (event) {
        continue;
      }
      assertEquals(expectId, r.getString("id"), ctx(i, body) + " answered " + r);
      return r;
    }
  }

  private static boolean isClose(byte[] body) {
    return new String(body, StandardCharsets.UTF_8).contains("\"shell_close\"");
  }

  private static void assertWellFormed(JsonObject r, int i, byte[] body) {
    boolean error = r.containsKey("error");
    // A failure has error and no exit_code; a success has exit_code, except the started answer.
    boolean started = "started".equals(r.getString("shell_event"));
    assertTrue(started ? !error && !r.containsKey("exit_code")
        : error != r.containsKey("exit_code"), ctx(i, body) + ": " + r);
    if (error) {
      assertTrue(r.getValue("error") instanceof String, ctx(i, body) + ": " + r);
    }
    for (String k : r.fieldNames()) {
      assertTrue(r.getValue(k) != null, ctx(i, body) + ": null field " + k + " in " + r);
    }
  }

  private static String ctx(int i, byte[] body) {
    String s = new String(body, StandardCharsets.UTF_8);
    return "seed " + SEED + " frame " + i + " body " + (s.length() > 300
        ? s.substring(0, 300) + "..." : s);
  }

  /** The id the answer must carry: the request's id when it is a readable string, else "". */
  private static String expectedId(byte[] body) {
    try {
      Object v = new JsonObject(new String(body, StandardCharsets.UTF_8)).getValue("id");
      return v instanceof String s ? s : "";
    } catch (RuntimeException e) {
      return "";
    }
  }

  private static byte[] body(Random rnd, int i) {
    int kind = rnd.nextInt(10);
    return switch (kind) {
      case 0 -> {
        byte[] b = new byte[rnd.nextInt(200)];
        rnd.nextBytes(b);
        yield b;
      }
      case 1 -> {
        byte[] whole = request(rnd, i).encode().getBytes(StandardCharsets.UTF_8);
        yield java.util.Arrays.copyOf(whole, rnd.nextInt(whole.length));
      }
      case 2 -> new JsonArray().add(rnd.nextInt()).encode().getBytes(StandardCharsets.UTF_8);
      default -> request(rnd, i).encode().getBytes(StandardCharsets.UTF_8);
    };
  }

  /** A request with a type and a few fields, each right or wrong in kind. */
  private static JsonObject request(Random rnd, int i) {
    JsonObject o = new JsonObject();
    o.put("id", rnd.nextInt(8) == 0 ? value(rnd) : "f" + i);
    o.put("type", rnd.nextInt(8) == 0 ? value(rnd) : TYPES.get(rnd.nextInt(TYPES.size())));
    int fields = rnd.nextInt(6);
    for (int k = 0; k < fields; k++) {
      String f = FIELDS.get(rnd.nextInt(FIELDS.size()));
      if (!f.equals("id") && !f.equals("type")) {
        o.put(f, rnd.nextBoolean() ? right(f, rnd) : value(rnd));
      }
    }
    if ("run".equals(o.getValue("type")) || "shell".equals(o.getValue("type"))) {
      // Only harmless programs run.
      o.put("command", rnd.nextBoolean() ? new JsonArray().add("/bin/true")
          : rnd.nextBoolean() ? value(rnd) : new JsonArray().add("no-such-program-" + rnd.nextInt(9)));
      o.remove("stream");
    }
    if (o.getValue("path") instanceof String || o.getValue("new_path") instanceof String) {
      // Paths stay inside the sandbox or are refused by the path rule.
      o.put("path", path(rnd));
      if (o.containsKey("new_path")) {
        o.put("new_path", path(rnd));
      }
    }
    return o;
  }

  private static String path(Random rnd) {
    String[] forms = {"relative/x", "/proc/self/environ", "//etc/shadow", "/etc/./passwd",
        "/dev/null", sandbox + "/a", sandbox + "/d/e/f", sandbox + "/../x", sandbox + "/a..b"};
    return forms[rnd.nextInt(forms.length)];
  }

  /** A value of the right kind for field {@code f}. */
  private static Object right(String f, Random rnd) {
    return switch (f) {
      case "command" -> new JsonArray().add("/bin/true");
      case "env" -> new JsonObject().put("K", "v");
      case "recursive", "stream", "append" -> rnd.nextBoolean();
      case "rows", "cols" -> rnd.nextInt(70_000) - 1000;
      case "timeout_ms", "max_output_bytes", "offset", "length", "mode" -> rnd.nextInt(5000) - 10;
      case "output_encoding" -> rnd.nextBoolean() ? "base64" : "utf-7";
      case "content_base64", "input_base64", "stdin_base64" -> rnd.nextBoolean() ? "aGk=" : "@@";
      default -> "s" + rnd.nextInt(100);
    };
  }

  /** Any JSON value, often of the wrong kind, sometimes huge. */
  private static Object value(Random rnd) {
    return switch (rnd.nextInt(9)) {
      case 0 -> null;
      case 1 -> rnd.nextBoolean();
      case 2 -> rnd.nextLong();
      case 3 -> rnd.nextDouble();
      case 4 -> new JsonArray().add(1).add("x").add(new JsonObject());
      case 5 -> new JsonObject().put("nested", new JsonArray().add(rnd.nextInt()));
      case 6 -> "x".repeat(rnd.nextInt(3) == 0 ? 200_000 : 10);
      case 7 -> "\u0000\uD83D\uDE00\"\\";
      default -> "9".repeat(40);
    };
  }
}
