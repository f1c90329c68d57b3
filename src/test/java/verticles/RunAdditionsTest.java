package verticles;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import process.ProcStat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import support.AgentProcess;
import support.SharedAgent;

/**
 * The {@code run} additions of protocol.md 2.4, against a real agent process over real sockets:
 * timeouts that kill whole trees, stdin, output caps and the frame limit, base64 output,
 * streaming with flow control, and the kill when the asking connection goes away.
 */
class RunAdditionsTest {
  private static final int MAX_FRAME = 10 * 1024 * 1024;
  /** Every marker argument of this class starts so; leftovers are killed after the tests. */
  private static final String MARKER = "300.1299";

  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  @AfterAll
  static void stop() throws Exception {
    // Only reached with processes left if a test failed: do not leave them for 300 s.
    for (ProcessHandle p : withArgStartingWith(MARKER)) {
      p.destroyForcibly();
    }
  }

  // ---------------------------------------------------------------- timeout

  @Test
  void timeoutKillsTheProcessAndEveryDescendantAndKeepsOutputSoFar() throws Exception {
    String marker = MARKER + "1";
    try (Host h = Host.open(agent.tcp())) {
      // A background child, a grandchild in a subshell, and the main sleep.
      h.send(run("t1", "sh", "-c", "echo before; echo err >&2; (sleep " + marker + " & sleep "
          + marker + ") & sleep " + marker).put("timeout_ms", 2000));
      awaitTrue(() -> withArg(marker).size() == 3, 10_000, "three sleeps started");
      JsonObject r = h.receive().body();
      assertEquals(new JsonObject().put("id", "t1").put("exit_code", 124)
          .put("stdout", "before\n").put("stderr", "err\n").put("timed_out", true), r);
    }
    awaitTrue(() -> withArg(marker).isEmpty(), 10_000, "no sleep " + marker + " left");
  }

  @Test
  void aRunEndsByItsTimeoutEvenWhenWhatItLeftKeepsWritingToItsPipes() throws Exception {
    String marker = MARKER + "7";
    // The shell exits at once with 5; the loop it leaves writes to the run's stdout every 50 ms
    // for up to 30 s (bounded), so its pipe never stays silent long enough to be given up.
    String loop = "i=0; while [ $i -lt 600 ]; do echo tick; sleep 0.05; i=$((i+1)); done";
    long t0 = System.nanoTime();
    JsonObject r = call(run("chatty", "sh", "-c", "sh -c '" + loop + "' " + marker + " & exit 5")
        .put("timeout_ms", 1000));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    // The shell's own exit code, not 124: it had exited before the time ran out.
    assertEquals(5, r.getInteger("exit_code"), r::encode);
    assertNull(r.getValue("timed_out"), r::encode);
    assertTrue(r.getString("stdout").startsWith("tick\n"), r::encode);
    // A loose bound: without the kill the answer waits for the loop's 30 s.
    assertTrue(ms < 15_000, "answered after " + ms + " ms");
    awaitTrue(() -> withArg(marker).isEmpty(), 10_000, "the loop was killed");
  }

  @Test
  void timeoutKillsAProcessThatKeepsForking() throws Exception {
    String marker = MARKER + "6";
    // Still forking when the timeout strikes; bounded, so that a failure cannot flood the host.
    JsonObject r = call(run("fork", "sh", "-c", "i=0; while [ $i -lt 400 ]; do sleep " + marker
        + " & i=$((i+1)); done; sleep " + marker).put("timeout_ms", 150));
    assertEquals(124, r.getInteger("exit_code"));
    assertEquals(true, r.getBoolean("timed_out"));
    awaitTrue(() -> withArg(marker).isEmpty(), 10_000, "no sleep " + marker + " left");
  }

  @Test
  void timedOutStreamedRunEndsWithCode124AndTheFlag() throws Exception {
    String marker = MARKER + "2";
    try (Host h = Host.open(agent.unix())) {
      h.send(run("t2", "sh", "-c", "echo x; sleep " + marker + " & sleep " + marker)
          .put("timeout_ms", 500).put("stream", true));
      List<JsonObject> frames = h.untilFinal("t2");
      JsonObject last = frames.get(frames.size() - 1);
      assertEquals(new JsonObject().put("id", "t2").put("exit_code", 124).put("timed_out", true),
          last);
      assertEquals("x\n", concat(frames, "stdout"));
    }
    awaitTrue(() -> withArg(marker).isEmpty(), 10_000, "no sleep " + marker + " left");
  }

  @Test
  void flagsThatDoNotApplyAreOmitted() throws Exception {
    JsonObject r = call(run("f1", "sh", "-c", "echo hi; echo ho >&2")
        .put("timeout_ms", 60_000).put("max_output_bytes", 100));
    assertEquals(new JsonObject().put("id", "f1").put("exit_code", 0).put("stdout", "hi\n")
        .put("stderr", "ho\n"), r);
    JsonObject b = call(run("f2", "true").put("output_encoding", "base64"));
    assertEquals(new JsonObject().put("id", "f2").put("exit_code", 0).put("stdout_base64", "")
        .put("stderr_base64", ""), b);
  }

  // ---------------------------------------------------------------- stdin

  @Test
  void stdinIsFedThenClosed() throws Exception {
    byte[] text = "hello\nworld".getBytes(StandardCharsets.UTF_8);
    JsonObject r = call(run("s1", "cat").put("stdin_base64", b64(text)));
    assertEquals(0, r.getInteger("exit_code"));
    assertEquals("hello\nworld", r.getString("stdout"));

    // Larger than a pipe buffer: cat must see end of input to exit.
    JsonObject w = call(run("s2", "wc", "-c").put("stdin_base64", b64(new byte[300_000])));
    assertEquals("300000", w.getString("stdout").trim());

    // Without stdin_base64, stdin is empty (at once at end of file).
    JsonObject e = call(run("s3", "wc", "-c"));
    assertEquals("0", e.getString("stdout").trim());
  }

  @Test
  void invalidStdinIsRefused() throws Exception {
    JsonObject r = call(run("s4", "cat").put("stdin_base64", "not base64!"));
    assertTrue(r.getString("error").startsWith("Invalid base64: "), r.encode());
    assertNull(r.getValue("exit_code"));
  }

  // ---------------------------------------------------------------- base64 output

  @Test
  void base64OutputCarriesRawBytes() throws Exception {
    byte[] all = new byte[256 * 4];
    for (int i = 0; i < all.length; i++) {
      all[i] = (byte) i;
    }
    JsonObject r = call(run("b1", "sh", "-c", "cat; printf '\\377\\000\\376' >&2")
        .put("stdin_base64", b64(all)).put("output_encoding", "base64"));
    assertEquals(Set.of("id", "exit_code", "stdout_base64", "stderr_base64"), r.fieldNames());
    assertArrayEquals(all, Base64.getDecoder().decode(r.getString("stdout_base64")));
    assertArrayEquals(new byte[] {(byte) 0xFF, 0, (byte) 0xFE},
        Base64.getDecoder().decode(r.getString("stderr_base64")));
  }

  // ---------------------------------------------------------------- caps and the frame limit

  @Test
  void outputPastTheCapIsDroppedAndFlaggedPerStream() throws Exception {
    JsonObject r = call(run("c1", "sh", "-c",
        "head -c 5000 /dev/zero | tr '\\0' a; head -c 300 /dev/zero | tr '\\0' b >&2")
        .put("max_output_bytes", 1000));
    assertEquals(0, r.getInteger("exit_code"));
    assertEquals("a".repeat(1000), r.getString("stdout"));
    assertEquals(true, r.getBoolean("stdout_truncated"));
    assertEquals("b".repeat(300), r.getString("stderr"));
    assertFalse(r.containsKey("stderr_truncated"));
  }

  @Test
  void capCutsAtACharacterBoundary() throws Exception {
    // "é" is two bytes; a cap of 3 keeps one whole "é" and drops the half of the next.
    JsonObject r = call(run("c2", "printf", "\u00e9\u00e9\u00e9").put("max_output_bytes", 3));
    assertEquals("\u00e9", r.getString("stdout"));
    assertEquals(true, r.getBoolean("stdout_truncated"));
  }

  @Test
  void fiftyMebibytesWithTheDefaultCapKeepsFourMebibytes() throws Exception {
    try (Host h = Host.open(agent.tcp())) {
      h.send(run("big1", "sh", "-c", "head -c 52428800 /dev/zero | tr '\\0' a"));
      Frame f = h.receive();
      assertTrue(f.length() <= MAX_FRAME, "frame " + f.length());
      JsonObject r = f.body();
      assertEquals(0, r.getInteger("exit_code"));
      assertEquals(4 * 1024 * 1024, r.getString("stdout").length());
      assertTrue(r.getString("stdout").chars().allMatch(c -> c == 'a'));
      assertEquals(true, r.getBoolean("stdout_truncated"));
      assertFalse(r.containsKey("stderr_truncated"));
    }
  }

  @Test
  void fiftyMebibytesWithAHugeCapStillFitsOneFrame() throws Exception {
    for (String encoding : new String[] {"utf8", "base64"}) {
      try (Host h = Host.open(agent.tcp())) {
        h.send(run("big2", "sh", "-c", "head -c 52428800 /dev/zero | tr '\\0' a")
            .put("max_output_bytes", 1L << 40).put("output_encoding", encoding));
        Frame f = h.receive();
        JsonObject r = f.body();
        assertTrue(f.length() <= MAX_FRAME, encoding + " frame " + f.length());
        assertEquals(0, r.getInteger("exit_code"));
        assertEquals(true, r.getBoolean("stdout_truncated"));
        int kept = encoding.equals("utf8") ? r.getString("stdout").length()
            : Base64.getDecoder().decode(r.getString("stdout_base64")).length;
        // Cut to what fits, not far below.
        int fits = encoding.equals("utf8") ? MAX_FRAME : MAX_FRAME / 4 * 3;
        assertTrue(kept > fits - 4096 && kept <= fits, encoding + " kept " + kept);
      }
    }
  }

  @Test
  void nulBytesWithASmallCapAreEscapedWithinOneFrame() throws Exception {
    try (Host h = Host.open(agent.tcp())) {
      h.send(run("nul1", "head", "-c", "3000000", "/dev/zero").put("max_output_bytes", 1 << 20));
      Frame f = h.receive();
      JsonObject r = f.body();
      // Each NUL is six bytes once escaped.
      assertTrue(f.length() > 6 * (1 << 20) && f.length() <= MAX_FRAME, "frame " + f.length());
      assertEquals(1 << 20, r.getString("stdout").length());
      assertTrue(r.getString("stdout").chars().allMatch(c -> c == 0));
      assertEquals(true, r.getBoolean("stdout_truncated"));
    }
  }

  @Test
  void nulBytesWithAHugeCapOnBothStreamsAreCutToFitOneFrame() throws Exception {
    try (Host h = Host.open(agent.tcp())) {
      h.send(run("nul2", "sh", "-c", "head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2")
          .put("max_output_bytes", 1L << 40));
      Frame f = h.receive();
      JsonObject r = f.body();
      assertTrue(f.length() <= MAX_FRAME, "frame " + f.length());
      assertTrue(f.length() > MAX_FRAME - 4096, "frame cut too short: " + f.length());
      assertEquals(true, r.getBoolean("stdout_truncated"));
      assertEquals(true, r.getBoolean("stderr_truncated"));
      int out = r.getString("stdout").length();
      int err = r.getString("stderr").length();
      assertTrue(out < 3_000_000 && err < 3_000_000 && Math.abs(out - err) <= 1,
          "shares " + out + " / " + err);
      assertTrue(r.getString("stdout").chars().allMatch(c -> c == 0));
    }
  }

  @Test
  void defaultCapComesFromTheConfiguration(@TempDir Path dir) throws Exception {
    try (AgentProcess small = AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0"),
        Map.of("AGENT_RUN_MAX_OUTPUT_BYTES", "1000")).awaitReady();
        AgentConnection c = AgentConnection.open(small.tcp())) {
      JsonObject r = c.call(run("cfg", "sh", "-c", "head -c 5000 /dev/zero | tr '\\0' a"));
      assertEquals("a".repeat(1000), r.getString("stdout"));
      assertEquals(true, r.getBoolean("stdout_truncated"));
      // A request's own cap wins over the default.
      JsonObject r2 = c.call(run("cfg2", "sh", "-c", "head -c 5000 /dev/zero | tr '\\0' a")
          .put("max_output_bytes", 5000));
      assertEquals(5000, r2.getString("stdout").length());
      assertFalse(r2.containsKey("stdout_truncated"));
      JsonObject info = c.call(new JsonObject().put("id", "i").put("type", "info"));
      assertEquals(1000L, info.getJsonObject("info").getJsonObject("limits")
          .getLong("run_max_output_bytes"));
    }
  }

  // ---------------------------------------------------------------- streaming

  @Test
  void streamedFramesArriveAsOutputAppearsThenTheFinalResponse() throws Exception {
    String marker = "stream-first-" + ProcessHandle.current().pid();
    try (Host h = Host.open(agent.tcp())) {
      long t0 = System.nanoTime();
      // $0 of the shell is the marker, so the shell itself can be found while it sleeps.
      h.send(run("st1", "sh", "-c", "echo first; sleep 2; echo second", marker)
          .put("stream", true));
      JsonObject first = h.receive().body();
      assertEquals(new JsonObject().put("id", "st1").put("stream", "stdout")
          .put("output_base64", b64("first\n".getBytes(StandardCharsets.UTF_8))), first);
      // The command has not exited yet: the first output did not wait for the end. Counted
      // exactly: the shell's own child for `sleep` carries the marker too until it execs, so
      // only a marked process whose parent is not marked is the shell.
      List<ProcessHandle> marked = withArg(marker);
      Set<Long> markedPids = new java.util.HashSet<>();
      marked.forEach(p -> markedPids.add(p.pid()));
      assertEquals(1, marked.stream().filter(p -> !markedPids.contains(parentOf(p.pid())))
          .count(), "the shell is still running");
      List<JsonObject> rest = h.untilFinal("st1");
      assertEquals("second\n", concat(rest, "stdout"));
      // The final response has no output fields and no flags.
      assertEquals(new JsonObject().put("id", "st1").put("exit_code", 0),
          rest.get(rest.size() - 1));
      assertTrue(System.nanoTime() - t0 < 30_000_000_000L, "loose bound");
    }
  }

  @Test
  void streamedStdoutAndStderrFramesKeepTheirOrder() throws Exception {
    try (Host h = Host.open(agent.unix())) {
      h.send(run("st2", "sh", "-c",
          "echo a; sleep 0.3; echo b >&2; sleep 0.3; echo c; exit 3").put("stream", true));
      List<JsonObject> frames = h.untilFinal("st2");
      List<String> seen = new ArrayList<>();
      for (JsonObject f : frames.subList(0, frames.size() - 1)) {
        assertEquals(Set.of("id", "stream", "output_base64"), f.fieldNames());
        seen.add(f.getString("stream") + ":" + new String(
            Base64.getDecoder().decode(f.getString("output_base64")), StandardCharsets.UTF_8));
      }
      assertEquals(List.of("stdout:a\n", "stderr:b\n", "stdout:c\n"), seen);
      assertEquals(new JsonObject().put("id", "st2").put("exit_code", 3),
          frames.get(frames.size() - 1));
    }
  }

  @Test
  void streamedOutputPastTheCapIsFlaggedInTheFinalResponse() throws Exception {
    try (Host h = Host.open(agent.tcp())) {
      h.send(run("st3", "head", "-c", "300000", "/dev/zero").put("stream", true)
          .put("max_output_bytes", 100_000));
      List<JsonObject> frames = h.untilFinal("st3");
      assertEquals(100_000, decodedLength(frames, "stdout"));
      assertEquals(new JsonObject().put("id", "st3").put("exit_code", 0)
          .put("stdout_truncated", true), frames.get(frames.size() - 1));
    }
  }

  @Test
  void slowHostBlocksTheProcessInsteadOfBuffering() throws Exception {
    long total = 64L * 1024 * 1024 + 1;
    String marker = Long.toString(total);
    try (Host h = Host.open(agent.unix())) {
      h.send(run("slow", "head", "-c", marker, "/dev/zero").put("stream", true)
          .put("max_output_bytes", 1L << 40));
      // Nothing is read: the writer must come to a stop, far from done.
      long[] last = {-1};
      int[] still = {0};
      awaitTrue(() -> {
        List<ProcessHandle> p = withArg(marker);
        long w = p.size() == 1 ? bytesWritten(p.get(0)) : -1;
        still[0] = w >= 0 && w == last[0] ? still[0] + 1 : 0;
        last[0] = w;
        return still[0] >= 5;
      }, 20_000, "the writer stops while the host does not read");
      assertTrue(last[0] < 16L * 1024 * 1024, "written before blocking: " + last[0]);
      // Reading resumes the process; every byte arrives.
      List<JsonObject> frames = h.untilFinal("slow");
      assertEquals(total, decodedLength(frames, "stdout"));
      assertEquals(new JsonObject().put("id", "slow").put("exit_code", 0),
          frames.get(frames.size() - 1));
    }
  }

  @Test
  void backgroundChildHoldingThePipesDoesNotDelayTheAnswer() throws Exception {
    String marker = MARKER + "3";
    for (boolean stream : new boolean[] {false, true}) {
      try (Host h = Host.open(agent.tcp())) {
        h.send(run("bg", "sh", "-c", "echo out; sleep " + marker + " &").put("stream", stream));
        List<JsonObject> frames = h.untilFinal("bg");
        JsonObject last = frames.get(frames.size() - 1);
        assertEquals(0, last.getInteger("exit_code"));
        assertEquals("out\n", stream ? concat(frames, "stdout") : last.getString("stdout"));
        // The reference behaviour: without a timeout, a background child is not killed.
        assertEquals(1, withArg(marker).size());
      } finally {
        withArg(marker).forEach(ProcessHandle::destroyForcibly);
      }
    }
  }

  // ---------------------------------------------------------------- connection closed

  @Test
  void closingTheConnectionKillsTheTree() throws Exception {
    String marker = MARKER + "4";
    String streamed = MARKER + "5";
    Host plain = Host.open(agent.tcp());
    Host stream = Host.open(agent.unix());
    plain.send(run("k1", "sh", "-c", "sleep " + marker + " & sleep " + marker));
    stream.send(run("k2", "sh", "-c", "echo go; sleep " + streamed + " & sleep " + streamed)
        .put("stream", true));
    awaitTrue(() -> withArg(marker).size() == 2 && withArg(streamed).size() == 2, 10_000,
        "sleeps started");
    assertEquals("stdout", stream.receive().body().getString("stream"));
    plain.close();
    stream.close();
    awaitTrue(() -> withArg(marker).isEmpty() && withArg(streamed).isEmpty(), 10_000,
        "no sleep left after the connections closed");
    // The agent serves on, and the run slots were given back.
    try (AgentConnection c = AgentConnection.open(agent.tcp())) {
      assertEquals(0, c.call(run("after", "true")).getInteger("exit_code"));
    }
  }

  // ---------------------------------------------------------------- info

  @Test
  void infoDescribesTheAgent() throws Exception {
    try (AgentConnection c = AgentConnection.open(agent.tcp())) {
      JsonObject r = c.call(new JsonObject().put("id", "i1").put("type", "info"));
      assertEquals(Set.of("id", "exit_code", "info"), r.fieldNames());
      assertEquals(0, r.getInteger("exit_code"));
      JsonObject info = r.getJsonObject("info");
      assertEquals(Set.of("version", "protocol", "capabilities", "limits", "uptime_ms"),
          info.fieldNames());
      assertFalse(info.getString("version").isBlank());
      assertTrue(info.getString("protocol").startsWith("agentkernel-0.18.1"));
      JsonArray caps = info.getJsonArray("capabilities");
      for (String cap : new String[] {"run_timeout", "run_stdin", "run_max_output_bytes",
          "run_output_base64", "run_stream", "read_file_chunks", "write_file_append",
          "write_file_mode", "remove_recursive", "stat", "list_dir", "rename", "info"}) {
        assertTrue(caps.contains(cap), "capability " + cap);
      }
      JsonObject limits = info.getJsonObject("limits");
      assertEquals(MAX_FRAME, limits.getInteger("max_frame_bytes"));
      assertEquals(4L * 1024 * 1024, limits.getLong("run_max_output_bytes"));
      long up = info.getLong("uptime_ms");
      assertTrue(up >= 0);
      JsonObject again = c.call(new JsonObject().put("id", "i2").put("type", "info"));
      assertTrue(again.getJsonObject("info").getLong("uptime_ms") >= up);
    }
  }

  // ---------------------------------------------------------------- helpers

  private static JsonObject run(String id, String... command) {
    return new JsonObject().put("id", id).put("type", "run").put("command",
        new JsonArray(List.of((Object[]) command)));
  }

  private static JsonObject call(JsonObject request) throws IOException {
    try (AgentConnection c = AgentConnection.open(agent.tcp())) {
      return c.call(request);
    }
  }

  private static String b64(byte[] b) {
    return Base64.getEncoder().encodeToString(b);
  }

  private static String concat(List<JsonObject> frames, String stream) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (JsonObject f : frames) {
      if (stream.equals(f.getString("stream"))) {
        out.writeBytes(Base64.getDecoder().decode(f.getString("output_base64")));
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  private static long decodedLength(List<JsonObject> frames, String stream) {
    long n = 0;
    for (JsonObject f : frames) {
      if (stream.equals(f.getString("stream"))) {
        n += Base64.getDecoder().decode(f.getString("output_base64")).length;
      }
    }
    return n;
  }

  /** Live processes (not zombies: their command line is empty) with this exact argument. */
  /** The parent pid from /proc/PID/stat, or -1 when the process is gone. */
  private static long parentOf(long pid) {
    ProcStat s = ProcStat.read(pid);
    return s == null ? -1 : s.ppid();
  }

  static List<ProcessHandle> withArg(String arg) {
    return scan(a -> a.equals(arg));
  }

  private static List<ProcessHandle> withArgStartingWith(String prefix) {
    return scan(a -> a.startsWith(prefix));
  }

  private static List<ProcessHandle> scan(java.util.function.Predicate<String> match) {
    List<ProcessHandle> out = new ArrayList<>();
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : dir) {
        byte[] cmdline;
        try {
          cmdline = Files.readAllBytes(p.resolve("cmdline"));
        } catch (IOException e) {
          continue;
        }
        for (String a : new String(cmdline, StandardCharsets.UTF_8).split("\0")) {
          if (match.test(a)) {
            ProcessHandle.of(Long.parseLong(p.getFileName().toString())).ifPresent(out::add);
            break;
          }
        }
      }
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    return out;
  }

  /** The bytes a process has written, from /proc/PID/io; -1 once it is gone. */
  private static long bytesWritten(ProcessHandle p) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc", Long.toString(p.pid()), "io"))) {
        if (line.startsWith("wchar:")) {
          return Long.parseLong(line.substring(6).trim());
        }
      }
    } catch (IOException e) {
      return -1;
    }
    return -1;
  }

  /**
   * Polls a condition that no event announces (a process appearing in or leaving /proc) until it
   * holds; the bound only catches hangs.
   */
  static void awaitTrue(BooleanSupplier condition, long boundMs, String what)
      throws InterruptedException {
    support.Poll.until(what, boundMs, condition);
  }

  /** One frame as received, with its exact body length. */
  record Frame(int length, JsonObject body) {}

  /** A host connection that also reports each frame's size. */
  static final class Host implements AutoCloseable {
    private final SocketChannel channel;
    private final DataInputStream in;
    private final OutputStream out;

    private Host(SocketChannel channel) {
      this.channel = channel;
      this.in = new DataInputStream(Channels.newInputStream(channel));
      this.out = Channels.newOutputStream(channel);
    }

    static Host open(String address) throws IOException {
      if (address.startsWith("unix:")) {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(address.substring("unix:".length())));
        return new Host(ch);
      }
      String rest = address.substring("tcp://".length());
      int colon = rest.lastIndexOf(':');
      return new Host(SocketChannel.open(new InetSocketAddress(rest.substring(0, colon),
          Integer.parseInt(rest.substring(colon + 1)))));
    }

    void send(JsonObject request) throws IOException {
      byte[] body = request.encode().getBytes(StandardCharsets.UTF_8);
      byte[] frame = new byte[4 + body.length];
      frame[0] = (byte) body.length;
      frame[1] = (byte) (body.length >>> 8);
      frame[2] = (byte) (body.length >>> 16);
      frame[3] = (byte) (body.length >>> 24);
      System.arraycopy(body, 0, frame, 4, body.length);
      out.write(frame);
      out.flush();
    }

    Frame receive() throws IOException {
      int n = Integer.reverseBytes(in.readInt());
      if (n < 0 || n > MAX_FRAME) {
        throw new IOException("frame over the limit: " + Integer.toUnsignedString(n));
      }
      byte[] body = new byte[n];
      in.readFully(body);
      return new Frame(n, new JsonObject(new String(body, StandardCharsets.UTF_8)));
    }

    /** Every frame for {@code id} up to and including the one without a stream field. */
    List<JsonObject> untilFinal(String id) throws IOException {
      List<JsonObject> frames = new ArrayList<>();
      while (true) {
        JsonObject f;
        try {
          f = receive().body();
        } catch (EOFException e) {
          throw new AssertionError("connection closed after " + frames, e);
        }
        assertEquals(id, f.getString("id"));
        frames.add(f);
        if (!f.containsKey("stream")) {
          return frames;
        }
      }
    }

    @Override
    public void close() throws IOException {
      channel.close();
    }
  }
}
