package verticles;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ProtocolSupport.answerTo;
import static verticles.ProtocolSupport.assertClosedByAgent;
import static verticles.ProtocolSupport.assertError;
import static verticles.ProtocolSupport.assertFailed;
import static verticles.ProtocolSupport.b64;
import static verticles.ProtocolSupport.error;
import static verticles.ProtocolSupport.eventually;
import static verticles.ProtocolSupport.ok;
import static verticles.ProtocolSupport.req;
import static verticles.ProtocolSupport.run;
import static verticles.ProtocolSupport.unb64;
import static verticles.ProtocolSupport.until;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import support.AgentProcess;

/**
 * The reference protocol (protocol.md part 1) and the answers to bad input (§2.3), over TCP and
 * the Unix socket, against one real agent process.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ProtocolTest {
  private static final int MAX = 10 * 1024 * 1024;

  static AgentProcess agent;
  /** Where the file tests work; real path, so that no link is on the way. */
  static Path work;

  @BeforeAll
  static void start(@TempDir Path dir, @TempDir Path files) throws Exception {
    agent = AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0", "--listen",
            "unix:" + dir.resolve("agent.sock")),
        Map.of("PROTO_AGENT_MARKER", "from-agent", "PROTO_OVERRIDE", "agent")).awaitReady();
    work = files.toRealPath();
  }

  @AfterAll
  static void stop() throws Exception {
    agent.close();
  }

  static AgentConnection open(String transport) throws Exception {
    return AgentConnection.open(transport.equals("tcp") ? agent.tcp() : agent.unix());
  }

  private static byte[] header(long length) {
    return new byte[] {(byte) length, (byte) (length >>> 8), (byte) (length >>> 16),
        (byte) (length >>> 24)};
  }

  private static byte[] frame(String json) {
    byte[] body = json.getBytes(StandardCharsets.UTF_8);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(header(body.length));
    out.writeBytes(body);
    return out.toByteArray();
  }

  private static Path dir(String name) throws Exception {
    return Files.createDirectories(work.resolve(name));
  }

  // ------------------------------------------------------------------ request types

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void ping(String t) throws Exception {
    try (AgentConnection c = open(t)) {
      assertEquals(ok("p1"), c.call(req("p1", "ping")));
      // Any number of requests on one connection.
      for (int i = 0; i < 20; i++) {
        assertEquals(ok("p-" + i), c.call(req("p-" + i, "ping")));
      }
      // Unknown fields are ignored; an empty id is a valid id.
      assertEquals(ok(""), c.call(req("", "ping").put("whatever", new JsonObject())));
    }
    // A fresh connection per request, as many hosts do.
    for (int i = 0; i < 5; i++) {
      try (AgentConnection c = open(t)) {
        assertEquals(ok("f" + i), c.call(req("f" + i, "ping")));
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void runShape(String t) throws Exception {
    try (AgentConnection c = open(t)) {
      assertEquals(new JsonObject().put("id", "r1").put("exit_code", 3).put("stdout", "out\n")
              .put("stderr", "err\n"),
          c.call(run("r1", "sh", "-c", "echo out; echo err >&2; exit 3")));
      // Empty output is sent as empty strings, not omitted.
      assertEquals(new JsonObject().put("id", "r2").put("exit_code", 0).put("stdout", "")
          .put("stderr", ""), c.call(run("r2", "true")));
      // Arguments are passed as they are, without a shell.
      assertEquals("a b|$HOME|*|\n", c.call(run("r3", "printf", "%s|%s|%s|\n", "a b", "$HOME",
          "*")).getString("stdout"));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void runExitCodes(String t) throws Exception {
    try (AgentConnection c = open(t)) {
      for (int code : new int[] {0, 1, 42, 255}) {
        JsonObject r = c.call(run("e" + code, "sh", "-c", "exit " + code));
        assertEquals(code, r.getInteger("exit_code"), r::encode);
      }
      assertEquals(1, c.call(run("false", "false")).getInteger("exit_code"));
      // Killed by signal N: 128 + N.
      assertEquals(137, c.call(run("k9", "sh", "-c", "kill -9 $$")).getInteger("exit_code"));
      assertEquals(143, c.call(run("k15", "sh", "-c", "kill -TERM $$")).getInteger("exit_code"));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void runEnvIsAddedToTheAgentsEnvironment(String t) throws Exception {
    String script = "printf '%s|%s|%s|%s' \"$PROTO_AGENT_MARKER\" \"$PROTO_REQ\" "
        + "\"$PROTO_OVERRIDE\" \"${PATH:+path}\"";
    try (AgentConnection c = open(t)) {
      JsonObject withEnv = run("env1", "sh", "-c", script)
          .put("env", new JsonObject().put("PROTO_REQ", "req").put("PROTO_OVERRIDE", "request"));
      assertEquals("from-agent|req|request|path", c.call(withEnv).getString("stdout"));
      // Nothing leaks from one run to the next.
      assertEquals("from-agent||agent|path", c.call(run("env2", "sh", "-c", script))
          .getString("stdout"));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void runCwd(String t) throws Exception {
    Path d = dir("cwd-" + t);
    try (AgentConnection c = open(t)) {
      assertEquals(d + "\n", c.call(run("cwd", "pwd").put("cwd", d.toString()))
          .getString("stdout"));
      assertFailed("cwd-missing", "Failed to run command",
          c.call(run("cwd-missing", "pwd").put("cwd", d.resolve("missing").toString())));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void runInvalidUtf8IsReplaced(String t) throws Exception {
    try (AgentConnection c = open(t)) {
      JsonObject r = c.call(run("u", "sh", "-c",
          "printf 'a\\377b\\300\\n'; printf '\\342\\202x' >&2; printf 'é→'"));
      assertEquals("a\uFFFDb\uFFFD\né→", r.getString("stdout"));
      assertTrue(r.getString("stderr").startsWith("\uFFFD"), r.encode());
      assertTrue(r.getString("stderr").endsWith("x"), r.encode());
      assertFalse(r.getString("stderr").contains("\u00e2"), r.encode());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void runStdinIsEmpty(String t) throws Exception {
    try (AgentConnection c = open(t)) {
      // cat would wait forever on an inherited or open stdin.
      assertEquals(new JsonObject().put("id", "cat").put("exit_code", 0).put("stdout", "")
          .put("stderr", ""), c.call(run("cat", "cat")));
      assertEquals("eof\n", c.call(run("read", "sh", "-c", "read x || echo eof"))
          .getString("stdout"));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void fileOperations(String t) throws Exception {
    Path d = work.resolve("files-" + t);
    Path f = d.resolve("a/b/file.txt");
    try (AgentConnection c = open(t)) {
      // write_file creates the missing parents.
      assertEquals(ok("w1"), c.call(req("w1", "write_file").put("path", f.toString())
          .put("content_base64", b64("hello world"))));
      assertEquals("hello world", Files.readString(f));
      assertEquals(new JsonObject().put("id", "r1").put("exit_code", 0)
              .put("content_base64", b64("hello world")),
          c.call(req("r1", "read_file").put("path", f.toString())));
      // Writing again truncates.
      assertEquals(ok("w2"), c.call(req("w2", "write_file").put("path", f.toString())
          .put("content_base64", b64("hi"))));
      assertEquals("hi", unb64(c.call(req("r2", "read_file").put("path", f.toString()))
          .getString("content_base64")));
      // Binary content round trip, every byte value.
      byte[] all = new byte[256];
      for (int i = 0; i < 256; i++) {
        all[i] = (byte) i;
      }
      Path bin = d.resolve("bin");
      assertEquals(ok("w3"), c.call(req("w3", "write_file").put("path", bin.toString())
          .put("content_base64", Base64.getEncoder().encodeToString(all))));
      assertArrayEquals(all, Files.readAllBytes(bin));
      assertArrayEquals(all, Base64.getDecoder().decode(c.call(req("r3", "read_file")
          .put("path", bin.toString())).getString("content_base64")));
      // Empty content is content.
      Path empty = d.resolve("empty");
      assertEquals(ok("w4"), c.call(req("w4", "write_file").put("path", empty.toString())
          .put("content_base64", "")));
      assertEquals(0, Files.size(empty));
      assertEquals(new JsonObject().put("id", "r4").put("exit_code", 0).put("content_base64", ""),
          c.call(req("r4", "read_file").put("path", empty.toString())));

      // mkdir: one level, or with parents when recursive.
      Path one = d.resolve("one");
      assertEquals(ok("m1"), c.call(req("m1", "mkdir").put("path", one.toString())));
      assertTrue(Files.isDirectory(one));
      Path deep = d.resolve("x/y/z");
      assertEquals(ok("m2"), c.call(req("m2", "mkdir").put("path", deep.toString())
          .put("recursive", true)));
      assertTrue(Files.isDirectory(deep));
      assertEquals(ok("m3"), c.call(req("m3", "mkdir").put("path", deep.toString())
          .put("recursive", true)), "recursive mkdir of an existing directory succeeds");

      // remove_file.
      assertEquals(ok("rm"), c.call(req("rm", "remove_file").put("path", f.toString())));
      assertFalse(Files.exists(f));
      assertFailed("r5", "Failed to read file",
          c.call(req("r5", "read_file").put("path", f.toString())));
    }
  }

  // ------------------------------------------------------------------ error prefixes (§1.4)

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void runErrors(String t) throws Exception {
    try (AgentConnection c = open(t)) {
      assertEquals(error("n", "No command specified"), c.call(req("n", "run")));
      assertEquals(error("n2", "No command specified"),
          c.call(req("n2", "run").put("command", (Object) null)));
      assertEquals(error("e", "Empty command"),
          c.call(req("e", "run").put("command", new JsonArray())));
      assertFailed("missing", "Failed to run command",
          c.call(run("missing", "/nonexistent/program-" + t)));
      assertFailed("notexec", "Failed to run command", c.call(run("notexec", "/etc")));
      assertFailed("nocwd", "Failed to run command",
          c.call(run("nocwd", "true").put("cwd", "/nonexistent/dir-" + t)));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void fileErrors(String t) throws Exception {
    Path d = dir("errors-" + t);
    Path plain = d.resolve("plain");
    Files.writeString(plain, "x");
    Path sub = Files.createDirectories(d.resolve("sub"));
    try (AgentConnection c = open(t)) {
      for (String type : List.of("write_file", "read_file", "remove_file", "mkdir")) {
        assertEquals(error("np-" + type, "No path specified"),
            c.call(req("np-" + type, type).put("content_base64", "")));
      }
      assertEquals(error("nc", "No content specified"),
          c.call(req("nc", "write_file").put("path", d.resolve("nc").toString())));
      assertFalse(Files.exists(d.resolve("nc")));
      assertFailed("b64", "Invalid base64", c.call(req("b64", "write_file")
          .put("path", d.resolve("b64").toString()).put("content_base64", "not base64!")));
      assertFalse(Files.exists(d.resolve("b64")));
      assertFailed("parent", "Failed to create parent directory", c.call(req("parent",
          "write_file").put("path", plain.resolve("child").toString()).put("content_base64", "")));
      assertFailed("write", "Failed to write file", c.call(req("write", "write_file")
          .put("path", sub.toString()).put("content_base64", b64("x"))));
      assertTrue(Files.isDirectory(sub));
      assertFailed("read", "Failed to read file",
          c.call(req("read", "read_file").put("path", d.resolve("absent").toString())));
      assertFailed("readdir", "Failed to read file",
          c.call(req("readdir", "read_file").put("path", sub.toString())));
      assertFailed("remove", "Failed to remove file",
          c.call(req("remove", "remove_file").put("path", d.resolve("absent").toString())));
      assertFailed("mkexists", "Failed to create directory",
          c.call(req("mkexists", "mkdir").put("path", sub.toString())));
      assertFailed("mkparent", "Failed to create directory",
          c.call(req("mkparent", "mkdir").put("path", d.resolve("no/such/parent").toString())));
      assertFailed("mkfile", "Failed to create directory", c.call(req("mkfile", "mkdir")
          .put("path", plain.resolve("under-a-file").toString()).put("recursive", true)));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void shellErrors(String t) throws Exception {
    String unknown = "no-such-session-" + t;
    try (AgentConnection c = open(t)) {
      for (String type : List.of("shell_input", "shell_resize", "shell_close")) {
        assertEquals(error("ns-" + type, "No session_id specified"),
            c.call(req("ns-" + type, type).put("input_base64", b64("x"))));
      }
      assertEquals(error("ni", "No input specified"),
          c.call(req("ni", "shell_input").put("session_id", unknown)));
      assertFailed("ib", "Invalid base64", c.call(req("ib", "shell_input")
          .put("session_id", unknown).put("input_base64", "%%%")));
      assertEquals(error("wi", "Failed to write to session: Session not found: " + unknown),
          c.call(req("wi", "shell_input").put("session_id", unknown)
              .put("input_base64", b64("echo\n"))));
      assertFailed("rs", "Failed to resize session", c.call(req("rs", "shell_resize")
          .put("session_id", unknown).put("rows", 10).put("cols", 10)));
      assertEquals(error("cl", "Failed to close session: Session not found: " + unknown),
          c.call(req("cl", "shell_close").put("session_id", unknown)));
      assertFailed("sh-cwd", "Failed to start shell",
          c.call(req("sh-cwd", "shell").put("cwd", "/nonexistent/dir-" + t)));
      assertFailed("sh-missing", "Failed to start shell", c.call(req("sh-missing", "shell")
          .put("command", new JsonArray().add("/nonexistent/shell-" + t))));
    }
  }

  // ------------------------------------------------------------------ shells

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void shellInputResizeAndClose(String t) throws Exception {
    try (AgentConnection c = open(t)) {
      c.send(req("sh", "shell").put("rows", 30).put("cols", 90));
      JsonObject started = c.receive();
      assertEquals(Set.of("id", "session_id", "shell_event"), started.fieldNames(),
          started::encode);
      assertEquals("sh", started.getString("id"));
      assertEquals("started", started.getString("shell_event"));
      String sid = started.getString("session_id");
      assertFalse(sid.isEmpty());

      StringBuilder screen = new StringBuilder();
      List<JsonObject> events = new ArrayList<>();
      c.send(req("in1", "shell_input").put("session_id", sid)
          .put("input_base64", b64("stty size; echo $((6*7))z\n")));
      // The input's answer and the echo may come in any order: read until both were seen.
      boolean answered = false;
      while (!answered || !screen.toString().contains("42z")
          || !screen.toString().contains("30 90")) {
        JsonObject f = c.receive();
        if (answerTo("in1").test(f)) {
          assertEquals(ok("in1"), f);
          answered = true;
        } else {
          screen.append(outputOf(f, "sh", sid));
        }
      }

      c.send(req("rs", "shell_resize").put("session_id", sid).put("rows", 40).put("cols", 100));
      // Output events may come before the answer.
      assertEquals(ok("rs"), until(c, answerTo("rs"), events));
      screen.setLength(0);
      c.send(req("in2", "shell_input").put("session_id", sid).put("input_base64",
          b64("stty size\n")));
      answered = false;
      while (!answered || !screen.toString().contains("40 100")) {
        JsonObject f = c.receive();
        if (answerTo("in2").test(f)) {
          assertEquals(ok("in2"), f);
          answered = true;
        } else {
          screen.append(outputOf(f, "sh", sid));
        }
      }

      // Closing a running shell answers with the exited shape.
      c.send(req("close", "shell_close").put("session_id", sid));
      JsonObject closed = until(c, f -> "close".equals(f.getString("id")), null);
      // The shell dies of the hang-up (SIGHUP, 1): 128 + 1.
      assertEquals(new JsonObject().put("id", "close").put("exit_code", 129)
          .put("session_id", sid).put("shell_event", "exited"), closed);
      // The session is gone.
      assertEquals(error("after", "Failed to write to session: Session not found: " + sid),
          c.call(req("after", "shell_input").put("session_id", sid)
              .put("input_base64", b64("x"))));
    }
  }

  /** The text of an output event of session {@code sid}; fails on anything else. */
  private static String outputOf(JsonObject f, String id, String sid) {
    assertEquals(id, f.getString("id"), f::encode);
    assertEquals(sid, f.getString("session_id"), f::encode);
    if ("exited".equals(f.getString("shell_event"))) {
      return "";
    }
    assertEquals("output", f.getString("shell_event"), f::encode);
    assertTrue(f.fieldNames().containsAll(Set.of("id", "session_id", "output_base64",
        "shell_event")), f::encode);
    assertTrue(Set.of("id", "session_id", "output_base64", "shell_event", "dropped_bytes")
        .containsAll(f.fieldNames()), f::encode);
    return unb64(f.getString("output_base64"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void shellOutputComesAfterStarted(String t) throws Exception {
    try (AgentConnection c = open(t)) {
      for (int i = 0; i < 5; i++) {
        String id = "early-" + i;
        // The process writes at once, before the agent could have answered.
        c.send(req(id, "shell").put("command", new JsonArray().add("/bin/sh").add("-c")
            .add("echo early-output-" + i + "; exit 3")));
        JsonObject first = c.receive();
        assertEquals("started", first.getString("shell_event"), first::encode);
        assertEquals(id, first.getString("id"));
        String sid = first.getString("session_id");
        StringBuilder out = new StringBuilder();
        JsonObject f;
        while (!"exited".equals((f = c.receive()).getString("shell_event"))) {
          out.append(outputOf(f, id, sid));
        }
        assertTrue(out.toString().contains("early-output-" + i), out::toString);
        assertEquals(new JsonObject().put("id", id).put("exit_code", 3).put("session_id", sid)
            .put("shell_event", "exited"), f);
        // The exited session stays until shell_close, which reports the real exit code.
        assertEquals(new JsonObject().put("id", "close-" + i).put("exit_code", 3)
                .put("session_id", sid).put("shell_event", "exited"),
            c.call(req("close-" + i, "shell_close").put("session_id", sid)));
      }
    }
  }

  // ------------------------------------------------------------------ concurrency

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void pingIsAnsweredWhileARunIsInFlight(String t) throws Exception {
    try (AgentConnection c = open(t)) {
      c.send(run("slow", "sleep", "2"));
      c.send(req("quick", "ping"));
      assertEquals(ok("quick"), c.receive(), "the ping's answer comes first");
      assertEquals(new JsonObject().put("id", "slow").put("exit_code", 0).put("stdout", "")
          .put("stderr", ""), c.receive());
    }
  }

  // ------------------------------------------------------------------ bad input (§2.3)

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void oversizedFrameIsRefusedAndTheConnectionClosed(String t) throws Exception {
    try (AgentConnection c = open(t)) {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      bytes.writeBytes(header(MAX + 1L));
      // What follows is the refused frame's body: it must not be read as a request.
      bytes.writeBytes(frame("{\"id\":\"hidden\",\"type\":\"ping\"}"));
      c.writeRaw(bytes.toByteArray());
      assertEquals(error("", "Frame too large: 10485761 bytes (max 10485760)"), c.receive());
      assertClosedByAgent(c);
    }
    try (AgentConnection c = open(t)) {
      assertEquals(ok("before"), c.call(req("before", "ping")));
      c.writeRaw(new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF});
      assertEquals(error("", "Frame too large: 4294967295 bytes (max 10485760)"), c.receive());
      assertClosedByAgent(c);
    }
    try (AgentConnection c = open(t)) {
      assertEquals(ok("others-unaffected"), c.call(req("others-unaffected", "ping")));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void frameOfExactlyTenMebibytesIsAccepted(String t) throws Exception {
    String start = "{\"id\":\"big\",\"type\":\"ping\",\"pad\":\"";
    String end = "\"}";
    byte[] body = new byte[MAX];
    Arrays.fill(body, (byte) 'x');
    byte[] s = start.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(s, 0, body, 0, s.length);
    byte[] e = end.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(e, 0, body, MAX - e.length, e.length);
    try (AgentConnection c = open(t)) {
      c.writeFrame(body);
      // Answered as the ping it is: the agent read all MAX bytes as one request.
      assertEquals(ok("big"), c.receive());
      assertEquals(ok("next"), c.call(req("next", "ping")));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void bodyThatIsNotAJsonObjectIsRefusedAndTheConnectionStaysUsable(String t) throws Exception {
    List<byte[]> bodies = new ArrayList<>();
    for (String s : List.of("not json", "", "[1,2]", "\"ping\"", "42", "null", "{",
        "{\"id\":\"a\",\"type\":\"ping\"} trailing", "{\"id\":\"a\" \"type\":\"ping\"}")) {
      bodies.add(s.getBytes(StandardCharsets.UTF_8));
    }
    bodies.add(new byte[] {'{', '"', 'i', 'd', '"', ':', '"', (byte) 0xC3, '"', '}'});
    try (AgentConnection c = open(t)) {
      int n = 0;
      for (byte[] body : bodies) {
        c.writeFrame(body);
        JsonObject r = c.receive();
        assertError("", "Invalid request: ", r);
        assertEquals(ok("still-" + n), c.call(req("still-" + n, "ping")),
            "usable after " + new String(body, StandardCharsets.UTF_8));
        n++;
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void badFieldsAreRefusedWithTheIdWhenReadable(String t) throws Exception {
    Path never = work.resolve("never-" + t);
    String[][] cases = {
        {"{\"id\":\"b1\",\"type\":\"bogus\"}", "b1"},
        {"{\"id\":\"b2\"}", "b2"},
        {"{\"type\":\"ping\"}", ""},
        {"{\"id\":5,\"type\":\"ping\"}", ""},
        {"{\"id\":null,\"type\":\"ping\"}", ""},
        {"{\"id\":\"b3\",\"type\":\"shell\",\"rows\":70000}", "b3"},
        {"{\"id\":\"b4\",\"type\":\"run\",\"command\":\"ls\"}", "b4"},
        {"{\"command\":[\"ls\",1],\"type\":\"run\",\"id\":\"b5\"}", "b5"},
        {"{\"id\":\"b6\",\"type\":\"run\",\"command\":[\"true\"],\"env\":{\"A\":1}}", "b6"},
        {"{\"id\":\"b7\",\"type\":\"shell_resize\",\"session_id\":\"s\",\"cols\":-1}", "b7"},
        {"{\"id\":\"b8\",\"type\":\"write_file\",\"path\":\"" + never
            + "\",\"content_base64\":\"aGk=\",\"recursive\":\"yes\"}", "b8"},
        {"{\"id\":\"b9\",\"type\":7}", "b9"},
    };
    try (AgentConnection c = open(t)) {
      for (String[] k : cases) {
        c.writeFrame(k[0].getBytes(StandardCharsets.UTF_8));
        JsonObject r = c.receive();
        assertError(k[1], "Invalid request: ", r);
        assertEquals(ok("ok-" + k[1]), c.call(req("ok-" + k[1], "ping")), "usable after " + k[0]);
      }
    }
    assertFalse(Files.exists(never), "a refused request is not carried out");
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void connectionClosedMidFrameAffectsNothingElse(String t) throws Exception {
    int droppedBefore = countLog("connection_dropped_mid_frame");
    try (AgentConnection other = open(t)) {
      other.send(run("busy", "sh", "-c", "sleep 0.5; echo fine"));
      try (AgentConnection c = open(t)) {
        assertEquals(ok("first"), c.call(req("first", "ping")));
        byte[] partial = frame("{\"id\":\"cut\",\"type\":\"run\",\"command\":[\"touch\",\""
            + work.resolve("cut-" + t) + "\"]}");
        c.writeRaw(Arrays.copyOf(partial, partial.length - 3));
      }
      try (AgentConnection c = open(t)) {
        // Only half a header.
        c.writeRaw(new byte[] {5, 0});
      }
      assertEquals(ok("alive"), other.call(req("alive", "ping")));
      assertEquals(new JsonObject().put("id", "busy").put("exit_code", 0).put("stdout", "fine\n")
          .put("stderr", ""), until(other, answerTo("busy"), null));
    }
    eventually(10_000, "both drops logged",
        () -> countLog("connection_dropped_mid_frame") >= droppedBefore + 2);
    assertFalse(Files.exists(work.resolve("cut-" + t)), "half a request is not carried out");
    try (AgentConnection c = open(t)) {
      assertEquals(ok("new"), c.call(req("new", "ping")));
    }
  }

  private static int countLog(String event) {
    return (int) agent.log().stream().filter(l -> l.contains(" " + event)).count();
  }

  // ------------------------------------------------------------------ the path rule (§1.5)

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void systemPathsAreRefusedWhateverTheSpelling(String t) throws Exception {
    Path links = dir("links-" + t);
    Files.createSymbolicLink(links.resolve("procl"), Path.of("/proc"));
    Files.createSymbolicLink(links.resolve("selfl"), Path.of("/proc/self"));
    Files.createSymbolicLink(links.resolve("shadowl"), Path.of("/etc/shadow"));
    Files.createSymbolicLink(links.resolve("etcl"), Path.of("/etc"));
    Files.createSymbolicLink(links.resolve("sysl"), Path.of("../../../../../../../sys"));
    Files.createSymbolicLink(links.resolve("chain"), links.resolve("procl"));
    // Only requests that would fail harmlessly if the rule let them through.
    Object[][] cases = {
        {"read_file", "//etc/shadow", "/etc/shadow"},
        {"read_file", "/etc/./shadow", "/etc/shadow"},
        {"read_file", "/etc//passwd", "/etc/passwd"},
        {"read_file", "///proc//self/status", "/proc"},
        {"read_file", "/./proc/./self/status", "/proc"},
        {"read_file", "/proc", "/proc"},
        {"read_file", "/dev/null", "/dev"},
        {"mkdir", "/sys/agent-test", "/sys"},
        {"write_file", "/proc/self/agent-test", "/proc"},
        {"remove_file", "//proc/self/agent-test", "/proc"},
        {"read_file", "/etc/shadow/", "/etc/shadow"},
        {"read_file", links.resolve("procl/self/status").toString(), "/proc"},
        {"read_file", links.resolve("selfl/environ").toString(), "/proc"},
        {"read_file", links.resolve("chain/self/status").toString(), "/proc"},
        {"read_file", links.resolve("shadowl").toString(), "/etc/shadow"},
        {"read_file", links.resolve("etcl/passwd").toString(), "/etc/passwd"},
        {"mkdir", links.resolve("etcl/shadow").toString(), "/etc/shadow"},
        {"write_file", links.resolve("sysl/kernel/agent-test").toString(), "/sys"},
        {"mkdir", links.resolve("procl/agent-test").toString(), "/proc"},
    };
    try (AgentConnection c = open(t)) {
      int n = 0;
      for (Object[] k : cases) {
        String id = "sys-" + n++;
        JsonObject r = c.call(req(id, (String) k[0]).put("path", k[1])
            .put("content_base64", b64("x")).put("recursive", true));
        assertEquals(error(id, "Cannot access system path: " + k[2]), r, () -> k[0] + " " + k[1]);
      }
      for (String p : List.of("etc/passwd", "", "proc/self/status", "./x", "~/x")) {
        assertEquals(error("rel", "Path must be absolute"),
            c.call(req("rel", "read_file").put("path", p)), p);
      }
      for (String p : List.of("/tmp/../etc/passwd", "/..", "/tmp/x/..", work + "/../x",
          "/a/../../proc")) {
        assertEquals(error("dots", "Path traversal not allowed"),
            c.call(req("dots", "write_file").put("path", p).put("content_base64", "")), p);
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void lookAlikePathsAreAllowed(String t) throws Exception {
    Path d = dir("alike-" + t);
    Files.createDirectories(d.resolve("processes"));
    Files.createSymbolicLink(d.resolve("lnk"), d.resolve("processes"));
    List<String> paths = List.of(
        d.resolve("processes/x").toString(),
        d.resolve("proc/self/status").toString(),
        d.resolve("devices").toString(),
        d.resolve("system").toString(),
        d.resolve("etc/shadow").toString(),
        d.resolve("etc/passwd-").toString(),
        d.resolve("a..b").toString(),
        d.resolve("..hidden").toString(),
        d.resolve("x..").toString(),
        d.resolve("lnk/through-link").toString(),
        "/" + d.toString().substring(1).replace("/", "//") + "//dots/./double//slashes");
    try (AgentConnection c = open(t)) {
      int n = 0;
      for (String p : paths) {
        String content = "content " + n;
        assertEquals(ok("w" + n), c.call(req("w" + n, "write_file").put("path", p)
            .put("content_base64", b64(content))), p);
        assertEquals(content, unb64(c.call(req("r" + n, "read_file").put("path", p))
            .getString("content_base64")), p);
        n++;
      }
      assertEquals("content 9", Files.readString(d.resolve("processes/through-link")));
      assertEquals(ok("md"), c.call(req("md", "mkdir").put("path", d.resolve("sys..tem/proc")
          .toString()).put("recursive", true)));
      assertEquals(ok("rm"), c.call(req("rm", "remove_file").put("path",
          d.resolve("a..b").toString())));
      assertFalse(Files.exists(d.resolve("a..b")));
    }
  }
}
