package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardSocketOptions;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;
import support.Poll;

/**
 * What a host can make the agent hold before a frame is complete: memory that follows the bytes
 * that arrived (never the announced length), a budget over all connections, and a time limit.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FrameGuardTest {
  /** The heap and GC flags of bin/agent, where memory is the point. */
  private static final String BIN_AGENT_HEAP = "-XX:+UseSerialGC -Xms8m -Xmx192m"
      + " -XX:MaxMetaspaceSize=96m -XX:+ExitOnOutOfMemoryError";

  /** A folder for each agent a test starts, for its socket. */
  @TempDir
  Path tmp;

  private AgentProcess agent(Map<String, String> env, String... extra) throws Exception {
    Path dir = Files.createTempDirectory(tmp, "frames");
    List<String> args = new ArrayList<>(List.of("--listen", "tcp://127.0.0.1:0", "--listen",
        "unix:" + dir.resolve("agent.sock")));
    args.addAll(List.of(extra));
    return AgentProcess.launch(dir, args, env).awaitReady();
  }

  private static byte[] header(int length) {
    return new byte[] {(byte) length, (byte) (length >>> 8), (byte) (length >>> 16),
        (byte) (length >>> 24)};
  }

  private static JsonObject ping(String id) {
    return new JsonObject().put("id", id).put("type", "ping");
  }

  private static int fds(long pid) throws IOException {
    try (var s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
      return (int) s.count();
    }
  }

  private static long logCount(AgentProcess a, String what) {
    return a.log().stream().filter(l -> l.contains(what)).count();
  }

  /** How many bytes {@link #writeFileBody} writes to the file. */
  private static int writeFileContent(Path path, int size) {
    String head = "{\"id\":\"w\",\"type\":\"write_file\",\"path\":\"" + path
        + "\",\"content_base64\":\"";
    return (size - head.length() - 2) / 4 * 3;
  }

  /** A write_file request whose body is exactly {@code size} bytes. */
  private static byte[] writeFileBody(Path path, int size) {
    String head = "{\"id\":\"w\",\"type\":\"write_file\",\"path\":\"" + path
        + "\",\"content_base64\":\"";
    String tail = "\"}";
    int b64 = (size - head.length() - tail.length()) / 4 * 4;
    String pad = " ".repeat(size - head.length() - tail.length() - b64);
    char[] content = new char[b64];
    Arrays.fill(content, 'A');
    byte[] body = (head + new String(content) + tail + pad).getBytes(StandardCharsets.UTF_8);
    assertEquals(size, body.length);
    return body;
  }

  @Test
  void twentyHeadersPromisingTenMebibytesCannotExhaustBinAgentsHeap() throws Exception {
    List<AgentConnection> promised = new ArrayList<>();
    try (AgentProcess a = agent(Map.of("JAVA_TOOL_OPTIONS", BIN_AGENT_HEAP))) {
      try {
        // 200 MiB promised: more than the whole heap.
        for (int i = 0; i < 20; i++) {
          AgentConnection c = AgentConnection.open(i % 2 == 0 ? a.tcp() : a.unix());
          promised.add(c);
          c.writeRaw(header(10 * 1024 * 1024));
          c.writeRaw(new byte[] {'{'});
        }
        // Each of them again, with a little more body: still nothing near what was promised.
        for (AgentConnection c : promised) {
          c.writeRaw(new byte[1000]);
        }
        try (AgentConnection other = AgentConnection.open(a.unix())) {
          assertEquals(0, other.call(ping("alive")).getInteger("exit_code"));
        }
        assertTrue(a.process().isAlive(), "the agent exited");
        assertTrue(a.log().stream().noneMatch(l -> l.contains("java.lang.OutOfMemoryError")), "OOM");
      } finally {
        for (AgentConnection c : promised) {
          c.close();
        }
      }
    }
  }

  /** {@code {"id":ID,"type":TYPE,KEY:VALUE}} with {@code value} as raw JSON, in UTF-8. */
  private static byte[] body(String id, String type, String key, String value) {
    return ("{\"id\":\"" + id + "\",\"type\":\"" + type + "\""
        + (key == null ? "" : ",\"" + key + "\":" + value) + "}")
        .getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void framesOfTinyItemsLongPathsOrLongIdsCannotExhaustBinAgentsHeap() throws Exception {
    // Each body is within the frame limit, but as Java objects (a string per argument, a step
    // per path component, an id echoed as escapes) each would be many times its size.
    byte[] path = body("p", "stat", "path", "\"" + "/a".repeat(3_000_000) + "\"");
    byte[] args = body("c", "run", "command", "[" + "\"a\",".repeat(2_499_000) + "\"a\"]");
    byte[] id = body("\ud83d\ude00".repeat(2_621_000), "x", null, null);
    try (AgentProcess a = agent(Map.of("JAVA_TOOL_OPTIONS", BIN_AGENT_HEAP));
        AgentConnection c = AgentConnection.open(a.unix())) {
      for (byte[] b : List.of(path, args, id)) {
        assertTrue(b.length <= 10 * 1024 * 1024, "within the frame limit");
      }
      c.writeFrame(path);
      JsonObject p = c.receive();
      assertEquals("p", p.getString("id"));
      assertEquals("Invalid path: longer than 4095 bytes", p.getString("error"), p::encode);
      c.writeFrame(args);
      JsonObject r = c.receive();
      assertEquals("c", r.getString("id"));
      assertTrue(r.getString("error").startsWith("Invalid request: field 'command' has more "
          + "than"), r::encode);
      for (int i = 0; i < 3; i++) {
        c.writeFrame(id);
        // Not echoed: the answer would be three times the frame limit (receive refuses that).
        JsonObject e = c.receive();
        assertEquals("", e.getString("id"), () -> e.encode().substring(0, 200));
        assertTrue(e.getString("error").startsWith("Invalid request: "), e::encode);
      }
      assertEquals(0, c.call(ping("alive")).getInteger("exit_code"));
      assertTrue(a.process().isAlive(), "the agent exited");
      assertTrue(a.log().stream().noneMatch(l -> l.contains("java.lang.OutOfMemoryError")), "OOM");
      // Nor was the id logged: a line per refusal, not megabytes.
      assertTrue(a.log().stream().allMatch(l -> l.length() < 10_000), "a long log line");
    }
  }

  @Test
  void pastTheFrameBudgetAConnectionGetsBusyAndIsClosed() throws Exception {
    // The budget is exactly A's frame: while A is incomplete, B cannot hold a byte.
    int size = 4 * 1024 * 1024;
    try (AgentProcess a = agent(Map.of("AGENT_FRAME_BUDGET_BYTES", Integer.toString(size)))) {
      byte[] body = writeFileBody(a.dir().resolve("blob"), size);
      try (AgentConnection first = AgentConnection.open(a.unix())) {
        int part = size - 512 * 1024;
        first.writeRaw(header(size));
        first.writeRaw(Arrays.copyOf(body, part));
        try (AgentConnection second = AgentConnection.open(a.unix())) {
          second.writeRaw(header(1000));
          second.writeRaw(new byte[100]);
          JsonObject busy = second.receive();
          assertEquals("", busy.getString("id"));
          assertTrue(busy.getString("error").startsWith("Busy: memory for incomplete frames"),
              busy::encode);
          ProtocolSupport.assertClosedByAgent(second);
        }
        // A finishes its frame and is served.
        first.writeRaw(Arrays.copyOfRange(body, part, size));
        assertEquals(0, first.receive().getInteger("exit_code"));
      }
    }
  }

  @Test
  void peersThatResetMidFrameLeakNothing() throws Exception {
    int size = 3 * 1024 * 1024;
    // Twelve abandoned halves of 1.5 MiB would be 18 MiB: far over a 4 MiB budget if kept.
    try (AgentProcess a = agent(Map.of("AGENT_FRAME_BUDGET_BYTES", Integer.toString(4 << 20)))) {
      try (AgentConnection warm = AgentConnection.open(a.unix())) {
        warm.call(ping("warm"));
        // The first file request opens what file work keeps for good (the root directory's
        // descriptor, the native call library): count from after it.
        warm.call(new JsonObject().put("id", "warm-file").put("type", "stat")
            .put("path", a.dir().toString()));
      }
      int before = fds(a.pid());
      byte[] body = writeFileBody(a.dir().resolve("blob"), size);
      int port = URI.create(a.tcp()).getPort();
      for (int i = 0; i < 12; i++) {
        if (i % 2 == 0) {
          // TCP with SO_LINGER 0: the close is a reset.
          try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port));
            s.setSoLinger(true, 0);
            s.getOutputStream().write(header(size));
            s.getOutputStream().write(body, 0, size / 2);
          }
        } else {
          try (SocketChannel ch = SocketChannel.open(java.net.UnixDomainSocketAddress.of(
              a.unix().substring("unix:".length())))) {
            ch.write(ByteBuffer.wrap(header(size)));
            ch.write(ByteBuffer.wrap(body, 0, size / 2));
          }
        }
      }
      Poll.until("every abandoned connection is closed", 30_000,
          () -> logCount(a, "connection_closed") >= 13);
      assertTrue(logCount(a, "connection_dropped_mid_frame") >= 1, "no mid-frame drop logged");
      // The budget is whole again: a full frame of 3 MiB is taken and served.
      try (AgentConnection c = AgentConnection.open(a.unix())) {
        c.writeFrame(body);
        assertEquals(0, c.receive().getInteger("exit_code"));
      }
      Poll.until("descriptors back to where they were", 30_000, () -> {
        try {
          return fds(a.pid()) <= before;
        } catch (IOException e) {
          return false;
        }
      });
      assertTrue(a.log().stream().noneMatch(l -> l.contains("frame_budget_exhausted")),
          "the budget ran out: abandoned frames were kept");
    }
  }

  @Test
  void connectionsThatSayNothingOrStopMidFrameAreClosedAfterTheFrameTimeout() throws Exception {
    try (AgentProcess a = agent(Map.of("AGENT_FRAME_TIMEOUT_MS", "1000"));
        AgentConnection talked = AgentConnection.open(a.unix())) {
      assertEquals(0, talked.call(ping("first")).getInteger("exit_code"));
      try (AgentConnection silent = AgentConnection.open(a.unix());
          AgentConnection half = AgentConnection.open(a.tcp())) {
        half.call(ping("ok"));
        half.writeRaw(header(100));
        half.writeRaw(new byte[10]);
        ProtocolSupport.assertClosedByAgent(silent);
        ProtocolSupport.assertClosedByAgent(half);
      }
      // The log reader may still be catching up with the last lines.
      Poll.until("a log line for the silent connection", 10_000, () -> a.log().stream()
          .anyMatch(l -> l.contains("connection_timed_out") && l.contains("no valid request")));
      Poll.until("a log line for the half frame", 10_000, () -> a.log().stream()
          .anyMatch(l -> l.contains("connection_timed_out") && l.contains("frame not completed")));
      // A connection that completed a request may stay idle between requests for longer.
      assertEquals(0, talked.call(ping("later")).getInteger("exit_code"));
    }
  }

  @Test
  void aFrameTrickledByteByByteMustStillCompleteWithinTheFrameTimeout() throws Exception {
    try (AgentProcess a = agent(Map.of("AGENT_FRAME_TIMEOUT_MS", "1000"));
        AgentConnection c = AgentConnection.open(a.unix())) {
      assertEquals(0, c.call(ping("first")).getInteger("exit_code"));
      c.writeRaw(header(1000));
      long start = System.nanoTime();
      boolean closed = false;
      // One byte every 50 ms keeps bytes coming, but the frame would take 50 s to complete.
      while (!closed && System.nanoTime() - start < 30_000_000_000L) {
        try {
          c.writeRaw(new byte[] {' '});
        } catch (IOException e) {
          closed = true;
        }
        Thread.sleep(50);
        closed |= a.log().stream().anyMatch(l -> l.contains("connection_timed_out"));
      }
      assertTrue(closed, "a trickling frame kept its connection for 30 s");
      try {
        assertTrue(c.closedByAgent(), "bytes after the close");
      } catch (IOException e) {
        // A reset or broken pipe: closed as well.
      }
      Poll.until("a log line for the trickled frame", 10_000, () -> a.log().stream()
          .anyMatch(l -> l.contains("connection_timed_out") && l.contains("frame not completed")));
    }
  }

  @Test
  void infoReportsTheConnectionLimits() throws Exception {
    try (AgentProcess a = agent(Map.of("AGENT_FRAME_TIMEOUT_MS", "12345",
        "AGENT_WRITE_STALL_TIMEOUT_MS", "23456", "AGENT_FRAME_BUDGET_BYTES", "3456789"));
        AgentConnection c = AgentConnection.open(a.unix())) {
      JsonObject limits = c.call(new JsonObject().put("id", "i").put("type", "info"))
          .getJsonObject("info").getJsonObject("limits");
      assertEquals(12345L, limits.getLong("frame_timeout_ms"));
      assertEquals(23456L, limits.getLong("write_stall_timeout_ms"));
      assertEquals(3456789L, limits.getLong("frame_budget_bytes"));
      assertEquals(64L << 20, limits.getLong("write_queue_max_bytes"));
    }
  }

  @Test
  void aGuardedTcpListenerClosesSilentAndUnauthorizedConnections() throws Exception {
    String token = "frame-guard-token";
    Path dir = Files.createTempDirectory(tmp, "frames");
    try (AgentProcess a = AgentProcess.launch(dir, List.of("--listen", "tcp://0.0.0.0:0"),
        Map.of("AGENT_AUTH_TOKEN", token, "AGENT_FRAME_TIMEOUT_MS", "1000")).awaitReady()) {
      String where = "tcp://127.0.0.1:" + URI.create(a.tcp()).getPort();
      try (AgentConnection silent = AgentConnection.open(where)) {
        ProtocolSupport.assertClosedByAgent(silent);
      }
      try (AgentConnection wrong = AgentConnection.open(where)) {
        JsonObject r = wrong.call(ping("w").put("auth_token", "nope"));
        assertEquals("Unauthorized", r.getString("error"));
        ProtocolSupport.assertClosedByAgent(wrong);
      }
      try (AgentConnection right = AgentConnection.open(where)) {
        assertEquals(0, right.call(ping("r").put("auth_token", token)).getInteger("exit_code"));
      }
    }
  }

  @Test
  void everyChunkSizeOfAFrameStillDecodes() throws Exception {
    // A frame that grows its buffer several times, fed in odd chunks, arrives whole.
    try (AgentProcess a = agent(Map.of());
        AgentConnection c = AgentConnection.open(a.unix())) {
      byte[] body = writeFileBody(a.dir().resolve("grown"), 300_001);
      byte[] frame = new byte[4 + body.length];
      System.arraycopy(header(body.length), 0, frame, 0, 4);
      System.arraycopy(body, 0, frame, 4, body.length);
      int step = 1;
      for (int off = 0; off < frame.length; off += step, step = step * 3 + 1) {
        c.writeRaw(Arrays.copyOfRange(frame, off, Math.min(frame.length, off + step)));
      }
      assertEquals(0, c.receive().getInteger("exit_code"));
      assertEquals(writeFileContent(a.dir().resolve("grown"), 300_001),
          Files.size(a.dir().resolve("grown")));
    }
  }
}
