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
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import support.SharedAgent;

/**
 * Seeded fuzzing of the wire: thousands of generated frames (random bytes, cut JSON, wrong types
 * in every field, unknown types, huge strings, device nodes and sockets as paths), raw junk,
 * headers that announce large frames, senders that trickle one byte at a time, connections that
 * stop reading, and FIFOs as paths. Every frame must get one well-formed answer, or the
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
  /** Where the generated file requests point, removed with what they made after the class. */
  @TempDir
  static Path sandbox;

  @Test
  void everyGeneratedFrameGetsOneWellFormedAnswer() throws Exception {
    Random rnd = new Random(SEED);
    AgentConnection c = AgentConnection.open(agent.unix());
    int answered = 0;
    for (int i = 0; i < FRAMES; i++) {
      byte[] body = body(rnd, i);
      if (new String(body, StandardCharsets.ISO_8859_1).contains(sandbox.toString())) {
        specialFiles();
      }
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
        byte[] junk = junk(rnd);
        c.writeRaw(junk);
        // The agent answers each frame it can cut from the junk, in order: a length over the
        // limit once, and then it closes; a whole frame of junk as an invalid request.
        String ctx = "seed " + SEED + " junk " + i + " " + java.util.HexFormat.of().formatHex(junk);
        int pos = 0;
        boolean closed = false;
        while (junk.length - pos >= 4) {
          long len = length(junk, pos);
          if (len > protocol.Frames.MAX_FRAME) {
            assertTooLarge(c, len, ctx);
            closed = true;
            break;
          }
          if (pos + 4 + len > junk.length) {
            break;
          }
          assertInvalid(c, ctx);
          pos += 4 + (int) len;
        }
        if (closed) {
          continue;
        }
        // What is left is a cut-off frame, pending: completing it with zero bytes makes it one
        // more frame of junk, answered as such (or too large). A ping after it is answered next:
        // the agent said nothing the frames above do not account for.
        int rest = junk.length - pos;
        byte[] header = java.util.Arrays.copyOfRange(junk, pos, pos + 4);
        long len = length(header, 0);
        long missing = rest < 4 ? 4 - rest : pos + 4 + len - junk.length;
        if (rest > 0) {
          if (len > protocol.Frames.MAX_FRAME) {
            c.writeRaw(new byte[(int) missing]);
            assertTooLarge(c, len, ctx);
            continue;
          }
          c.writeRaw(new byte[(int) (rest < 4 ? missing + len : missing)]);
          assertInvalid(c, ctx);
        }
        c.send(new JsonObject().put("id", "after").put("type", "ping"));
        assertEquals(new JsonObject().put("id", "after").put("exit_code", 0), c.receive(), ctx);
      }
    }
    assertAlive();
  }

  private static long length(byte[] b, int at) {
    return (b[at] & 0xFFL) | (b[at + 1] & 0xFFL) << 8 | (b[at + 2] & 0xFFL) << 16
        | (b[at + 3] & 0xFFL) << 24;
  }

  private static void assertTooLarge(AgentConnection c, long len, String ctx) throws IOException {
    JsonObject r = c.receive();
    assertEquals("", r.getString("id"), ctx);
    assertEquals("Frame too large: " + len + " bytes (max " + protocol.Frames.MAX_FRAME + ")",
        r.getString("error"), ctx);
    ProtocolSupport.assertClosedByAgent(c);
  }

  private static void assertInvalid(AgentConnection c, String ctx) throws IOException {
    JsonObject r = c.receive();
    assertEquals("", r.getString("id"), ctx);
    assertTrue(r.getString("error").startsWith("Invalid request: "), ctx + " " + r);
  }

  /** Up to 64 random bytes; often a run of small frame headers with random bodies. */
  private static byte[] junk(Random rnd) {
    byte[] junk = new byte[1 + rnd.nextInt(64)];
    rnd.nextBytes(junk);
    if (rnd.nextBoolean()) {
      int pos = 0;
      while (pos + 4 <= junk.length && rnd.nextInt(4) != 0) {
        int len = rnd.nextInt(24);
        junk[pos] = (byte) len;
        junk[pos + 1] = 0;
        junk[pos + 2] = 0;
        junk[pos + 3] = 0;
        pos += 4 + len;
      }
    }
    return junk;
  }

  /**
   * Headers that announce large frames (up to the limit) on many connections at once, whose
   * bodies arrive only in part, or whole after a pause. A frame that arrives whole is answered,
   * or refused as Busy and its connection closed; nothing else. The agent answers a ping after.
   */
  @Test
  void headersThatAnnounceLargeFramesAreAnsweredOrClosed() throws Exception {
    Random rnd = new Random(SEED + 2);
    List<AgentConnection> open = new ArrayList<>();
    List<Integer> lengths = new ArrayList<>();
    try {
      for (int i = 0; i < 24; i++) {
        AgentConnection c = AgentConnection.open(i % 2 == 0 ? agent.unix() : agent.tcp());
        open.add(c);
        int len = (1 + rnd.nextInt(10)) * 1024 * 1024;
        lengths.add(len);
        byte[] header = {(byte) len, (byte) (len >>> 8), (byte) (len >>> 16),
            (byte) (len >>> 24)};
        c.writeRaw(header);
        c.writeRaw("{\"id\":".getBytes(StandardCharsets.UTF_8));
      }
      assertAlive();
      // Half of them send the rest: a ping padded with spaces to the announced length.
      for (int i = 0; i < open.size(); i += 2) {
        AgentConnection c = open.get(i);
        byte[] body = paddedPing("big" + i, lengths.get(i));
        JsonObject r;
        try {
          c.writeRaw(java.util.Arrays.copyOfRange(body, 6, body.length));
          r = c.receive();
        } catch (IOException e) {
          // The agent may close a connection whose frame stays incomplete for too long: a close
          // is an allowed end, a hang is not.
          continue;
        }
        if (r.containsKey("error")) {
          assertTrue(r.getString("error").startsWith("Busy: "), r::encode);
          ProtocolSupport.assertClosedByAgent(c);
        } else {
          assertEquals("big" + i, r.getString("id"));
          assertEquals(0, r.getInteger("exit_code"));
        }
      }
    } finally {
      for (AgentConnection c : open) {
        c.close();
      }
    }
    assertAlive();
  }

  private static byte[] paddedPing(String id, int len) {
    byte[] start = ("{\"id\":\"" + id + "\",\"type\":\"ping\"").getBytes(StandardCharsets.UTF_8);
    byte[] body = new byte[len];
    java.util.Arrays.fill(body, (byte) ' ');
    System.arraycopy(start, 0, body, 0, start.length);
    body[len - 1] = '}';
    return body;
  }

  /** Requests sent one byte per write, on both transports, are answered like any other. */
  @Test
  void aSenderThatTricklesOneByteAtATimeIsAnswered() throws Exception {
    Random rnd = new Random(SEED + 3);
    for (String address : List.of(agent.unix(), agent.tcp())) {
      try (AgentConnection c = AgentConnection.open(address)) {
        for (int i = 0; i < 20; i++) {
          String id = "t" + i;
          JsonObject req = rnd.nextBoolean() ? new JsonObject().put("id", id).put("type", "ping")
              : request(rnd, i).put("id", id);
          req.remove("stream");
          byte[] body = req.encode().getBytes(StandardCharsets.UTF_8);
          byte[] frame = new byte[4 + body.length];
          frame[0] = (byte) body.length;
          frame[1] = (byte) (body.length >>> 8);
          frame[2] = (byte) (body.length >>> 16);
          frame[3] = (byte) (body.length >>> 24);
          System.arraycopy(body, 0, frame, 4, body.length);
          for (byte b : frame) {
            c.writeRaw(new byte[] {b});
          }
          JsonObject r = next(c, id, i, body);
          assertWellFormed(r, i, body);
        }
      }
    }
    assertAlive();
  }

  /**
   * Connections that ask for large answers and never read them: the agent goes on answering
   * others, and once they close, it is as before.
   */
  @Test
  void connectionsThatStopReadingDoNotStopOthers() throws Exception {
    Path big = sandbox.resolve("big.bin");
    Files.write(big, new byte[7 * 1024 * 1024]);
    List<AgentConnection> deaf = new ArrayList<>();
    try {
      for (String address : List.of(agent.unix(), agent.tcp())) {
        AgentConnection c = AgentConnection.open(address);
        deaf.add(c);
        for (int i = 0; i < 6; i++) {
          c.send(new JsonObject().put("id", "d" + i).put("type", "read_file")
              .put("path", big.toString()));
          c.send(new JsonObject().put("id", "o" + i).put("type", "run").put("command",
              new JsonArray().add("head").add("-c").add("3000000").add("/dev/zero"))
              .put("output_encoding", "base64"));
        }
        // Others are served meanwhile, on both transports.
        assertAlive();
        try (AgentConnection other = AgentConnection.open(agent.unix())) {
          assertEquals(0, other.call(new JsonObject().put("id", "u").put("type", "ping"))
              .getInteger("exit_code"));
        }
      }
    } finally {
      for (AgentConnection c : deaf) {
        c.close();
      }
    }
    assertAlive();
  }

  /**
   * Device nodes outside /dev (made here with mknod) and a socket file as paths of every file
   * request: each answered, never a hang. (FIFOs have a test of their own below.)
   */
  @Test
  void devicesAsPathsAreAnswered() throws Exception {
    specialFiles();
    try (AgentConnection c = AgentConnection.open(agent.unix())) {
      int i = 0;
      for (String path : DEVICES) {
        for (JsonObject req : fileRequests(sandbox.resolve(path).toString())) {
          String id = "dev" + i++;
          specialFiles();
          byte[] body = req.put("id", id).encode().getBytes(StandardCharsets.UTF_8);
          c.writeFrame(body);
          assertWellFormed(next(c, id, i, body), i, body);
        }
      }
    }
    assertAlive();
  }

  /**
   * A FIFO that nobody writes to, as the path of every file request: each is answered within a
   * bound that only catches hangs (refused as not a regular file, or read without blocking), and
   * the agent answers a ping after. Whatever happens, the FIFO is opened for writing at the end,
   * so that an agent that did block is let go. (This holds once file requests never block on a
   * FIFO, issue 11 item 2; before that, read_file of a FIFO waits in open() and this fails.)
   */
  @Test
  void fifosAsPathsAreAnsweredWithoutBlocking() throws Exception {
    Path fifo = sandbox.resolve("fifo");
    try (AgentConnection c = AgentConnection.open(agent.tcp())) {
      int i = 0;
      for (JsonObject req : fileRequests(fifo.toString())) {
        ensureFifo(fifo);
        String id = "fifo" + i++;
        byte[] body = req.put("id", id).encode().getBytes(StandardCharsets.UTF_8);
        c.writeFrame(body);
        java.util.concurrent.CompletableFuture<JsonObject> answer =
            java.util.concurrent.CompletableFuture.supplyAsync(() -> {
              try {
                return next(c, id, 0, body);
              } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
              }
            });
        JsonObject r;
        try {
          r = answer.get(20, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
          throw new AssertionError("no answer within 20 s to " + req.encode()
              + ": the request blocks on the FIFO");
        }
        assertWellFormed(r, i, body);
      }
    } finally {
      // Lets go of an agent that blocked in open(): a reader and a writer now exist.
      if (Files.exists(fifo)) {
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(fifo.toFile(), "rw")) {
          f.getFD();
        }
      }
    }
    assertAlive();
  }

  private static List<JsonObject> fileRequests(String path) {
    return List.of(
        new JsonObject().put("type", "read_file").put("path", path),
        new JsonObject().put("type", "read_file").put("path", path).put("offset", 0)
            .put("length", 4096),
        new JsonObject().put("type", "stat").put("path", path),
        new JsonObject().put("type", "list_dir").put("path", sandbox.toString()),
        new JsonObject().put("type", "write_file").put("path", path).put("content_base64", "aGk=")
            .put("append", true),
        new JsonObject().put("type", "write_file").put("path", path)
            .put("content_base64", "aGk="),
        new JsonObject().put("type", "list_dir").put("path", path));
  }

  /** Device nodes under the sandbox: zero, null, full, urandom; and a socket file. */
  private static final List<String> DEVICES = List.of("zero", "null", "full", "urandom", "sock");

  /** (Re)creates the special files: a request may have removed or replaced one. */
  private static void specialFiles() throws Exception {
    String[][] nodes = {{"zero", "5"}, {"null", "3"}, {"full", "7"}, {"urandom", "9"}};
    for (String[] n : nodes) {
      Path p = sandbox.resolve(n[0]);
      if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)
          || Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        Files.deleteIfExists(p);
        Process mk = new ProcessBuilder("mknod", p.toString(), "c", "1", n[1]).inheritIO().start();
        assertEquals(0, mk.waitFor(), "mknod " + p + " (the suite runs as root)");
      }
    }
    Path sock = sandbox.resolve("sock");
    if (!Files.exists(sock, java.nio.file.LinkOption.NOFOLLOW_LINKS)
        || Files.isRegularFile(sock, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      Files.deleteIfExists(sock);
      try (java.nio.channels.ServerSocketChannel s = java.nio.channels.ServerSocketChannel.open(
          java.net.StandardProtocolFamily.UNIX)) {
        s.bind(java.net.UnixDomainSocketAddress.of(sock));
      }
    }
  }

  private static void ensureFifo(Path fifo) throws Exception {
    if (!Files.exists(fifo, java.nio.file.LinkOption.NOFOLLOW_LINKS)
        || Files.isRegularFile(fifo, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      Files.deleteIfExists(fifo);
      Process mk = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
      assertEquals(0, mk.waitFor(), "mkfifo " + fifo);
    }
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
        "/dev/null", sandbox + "/a", sandbox + "/d/e/f", sandbox + "/../x", sandbox + "/a..b",
        sandbox + "/zero", sandbox + "/full", sandbox + "/urandom", sandbox + "/sock"};
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
