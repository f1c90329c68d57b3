package verticles;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import process.ProcStat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import support.SharedAgent;

/**
 * Shell sessions as a host sees them, against one agent process with the default configuration:
 * event order, complete output, routing between connections, window size, exit codes, listing,
 * cwd, and the end of a session's whole process tree.
 */
class ShellEventsTest {
  /** Bounds that only catch hangs. */
  static final Duration HANG = Duration.ofSeconds(30);

  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  @Test
  void startedComesFirstEvenWhenTheCommandPrintsAtOnce() throws Exception {
    // 200 sessions whose command prints and exits at once, four connections in parallel.
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<Integer>> done = new ArrayList<>();
      for (int c = 0; c < 4; c++) {
        String address = c % 2 == 0 ? agent.tcp() : agent.unix();
        int conn = c;
        done.add(pool.submit(() -> {
          int checked = 0;
          try (Host h = Host.open(address)) {
            for (int i = 0; i < 50; i++) {
              String word = "now-" + conn + "-" + i;
              String sid = h.startShell(Host.shell("s" + i, "echo", word));
              Output out = h.collect(sid);
              assertEquals(word + "\r\n", out.text(), "output of " + word);
              assertEquals(0, out.exitCode);
              assertEquals("s" + i, out.exited.getString("id"));
              JsonObject closed = h.call(Host.close("c" + i, sid));
              assertEquals(Host.exited("c" + i, sid, 0), closed);
              checked++;
            }
          }
          return checked;
        }));
      }
      int total = 0;
      for (Future<Integer> f : done) {
        total += f.get(HANG.toSeconds() * 2, TimeUnit.SECONDS);
      }
      assertEquals(200, total);
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void twoHundredThousandLinesArriveCompleteInOrderBeforeExited() throws Exception {
    try (Host h = Host.open(agent.unix())) {
      String sid = h.startShell(Host.shell("seq", "seq", "1", "200000"));
      Output out = h.collect(sid);
      assertEquals(0, out.exitCode);
      String[] lines = out.text().split("\r\n", -1);
      assertEquals(200_001, lines.length, "200000 lines and the empty rest after the last");
      for (int i = 0; i < 200_000; i++) {
        if (!lines[i].equals(Integer.toString(i + 1))) {
          fail("line " + (i + 1) + " is '" + lines[i] + "'");
        }
      }
      assertEquals("", lines[200_000]);
      assertEquals(0, out.droppedBytes, "an attached host loses nothing");
      // Small terminal reads are sent as few large frames.
      System.out.printf("seq 1 200000: %d bytes in %d output frames%n", out.bytes.length,
          out.frames);
      assertTrue(out.frames * 50 < 200_000, "frames: " + out.frames);
      // Nothing of the session follows its exited event.
      h.send(Host.ping("p"));
      assertEquals(Host.ok("p"), h.next(HANG));
      assertEquals(Host.exited("c", sid, 0), h.call(Host.close("c", sid)));
    }
  }

  @Test
  void inputAndResizeFromAnyConnectionOutputOnlyToTheReceiver() throws Exception {
    try (Host a = Host.open(agent.tcp()); Host b = Host.open(agent.unix());
        Host c = Host.open(agent.tcp())) {
      String sid = a.startShell(Host.shell("sh", "/bin/sh").put("rows", 30).put("cols", 100));
      // Input from another connection; the output goes to the starter only.
      assertEquals(Host.ok("i1"), b.call(Host.input("i1", sid, "stty size; echo M-$((6*7))\n")));
      a.awaitOutput(sid, "30 100\r\n");
      a.awaitOutput(sid, "M-42\r\n");
      // Resize from a third connection, twice; each size is what the terminal reports.
      assertEquals(Host.ok("r1"), c.call(Host.resize("r1", sid, 50, 132)));
      assertEquals(Host.ok("i2"), b.call(Host.input("i2", sid, "stty size\n")));
      a.awaitOutput(sid, "50 132\r\n");
      assertEquals(Host.ok("r2"), c.call(Host.resize("r2", sid, 12, 40)));
      assertEquals(Host.ok("i3"), c.call(Host.input("i3", sid, "stty size; echo END-$((2+3))\n")));
      a.awaitOutput(sid, "12 40\r\nEND-5\r\n");
      // Connections that only sent input or resize received nothing but their answers.
      b.send(Host.ping("pb"));
      assertEquals(Host.ok("pb"), b.next(HANG));
      c.send(Host.ping("pc"));
      assertEquals(Host.ok("pc"), c.next(HANG));
      assertTrue(b.nothingElse() && c.nothingElse());
      assertEquals(129, c.call(Host.close("x", sid)).getInteger("exit_code"),
          "a shell ended by SIGHUP");
    }
  }

  @Test
  void theDefaultBacklogIsOneMebibyte() throws Exception {
    try (Host h = Host.open(agent.tcp())) {
      JsonObject info = h.call(new JsonObject().put("id", "inf").put("type", "info"));
      assertEquals(1024 * 1024, info.getJsonObject("info").getJsonObject("limits")
          .getInteger("shell_backlog_bytes"));
    }
  }

  @Test
  void initialSizeIsSeenByTheFirstCommand() throws Exception {
    try (Host h = Host.open(agent.unix())) {
      String sid = h.startShell(Host.shell("s", "stty", "size").put("rows", 7).put("cols", 201));
      assertEquals("7 201\r\n", h.collect(sid).text());
      h.call(Host.close("c", sid));
      sid = h.startShell(Host.shell("d", "stty", "size"));
      assertEquals("24 80\r\n", h.collect(sid).text(), "the default size");
      h.call(Host.close("c2", sid));
    }
  }

  @Test
  void thirtyTwoConcurrentSessionsEachGetTheirOwnOutput() throws Exception {
    List<Host> hosts = new ArrayList<>();
    try {
      for (int c = 0; c < 4; c++) {
        hosts.add(Host.open(c % 2 == 0 ? agent.tcp() : agent.unix()));
      }
      // All 32 are started before any output is read.
      String[] sids = new String[32];
      for (int i = 0; i < 32; i++) {
        hosts.get(i % 4).send(Host.shell("s" + i, "/bin/sh", "-c",
            "i=0; while [ $i -lt 200 ]; do echo MARK-" + i + "-$((" + i + "*1000+i)); "
                + "i=$((i+1)); done"));
      }
      for (int i = 0; i < 32; i++) {
        sids[i] = hosts.get(i % 4).started("s" + i);
      }
      for (int i = 0; i < 32; i++) {
        Output out = hosts.get(i % 4).collect(sids[i]);
        assertEquals(0, out.exitCode);
        String[] lines = out.text().split("\r\n");
        assertEquals(200, lines.length, "session " + i);
        for (int k = 0; k < 200; k++) {
          assertEquals("MARK-" + i + "-" + (i * 1000 + k), lines[k], "session " + i);
        }
      }
      for (int i = 0; i < 32; i++) {
        assertEquals(0, hosts.get(i % 4).call(Host.close("c" + i, sids[i]))
            .getInteger("exit_code"));
      }
    } finally {
      for (Host h : hosts) {
        h.close();
      }
    }
  }

  @Test
  void anExitedSessionKeepsItsStatusUntilClose() throws Exception {
    try (Host a = Host.open(agent.tcp()); Host b = Host.open(agent.unix())) {
      String sid = a.startShell(Host.shell("e", "/bin/sh", "-c", "exit 7"));
      assertEquals(7, a.collect(sid).exitCode);
      JsonObject s = b.session(sid);
      assertEquals(false, s.getBoolean("running"));
      assertEquals(7, s.getInteger("exit_code"));
      // Input to an exited session fails with the contract's prefix; close gives the status.
      assertEquals(Host.exited("c1", sid, 7), b.call(Host.close("c1", sid)));
      assertNull(b.session(sid), "closed sessions are forgotten");
      assertEquals(new JsonObject().put("id", "c2")
              .put("error", "Failed to close session: Session not found: " + sid),
          b.call(Host.close("c2", sid)));
      assertEquals(new JsonObject().put("id", "i")
              .put("error", "Failed to write to session: Session not found: " + sid),
          b.call(Host.input("i", sid, "x")));
    }
  }

  @Test
  void closeReportsTheRealExitCodeAndSignalsAs128PlusN() throws Exception {
    try (Host h = Host.open(agent.unix())) {
      String term = h.startShell(Host.shell("t", "/bin/sh", "-c", "kill -TERM $$"));
      assertEquals(143, h.collect(term).exitCode);
      String kill = h.startShell(Host.shell("k", "/bin/sh", "-c", "kill -KILL $$"));
      assertEquals(137, h.collect(kill).exitCode);
      String ok = h.startShell(Host.shell("o", "/bin/sh", "-c", "exit 0"));
      assertEquals(0, h.collect(ok).exitCode);
      assertEquals(Host.exited("c1", term, 143), h.call(Host.close("c1", term)));
      assertEquals(Host.exited("c2", kill, 137), h.call(Host.close("c2", kill)));
      assertEquals(Host.exited("c3", ok, 0), h.call(Host.close("c3", ok)));
      // A running session is ended by shell_close: SIGHUP, as when a terminal hangs up.
      String cat = h.startShell(Host.shell("cat", "cat"));
      h.call(Host.input("ci", cat, "ready\n"));
      // The terminal echoes the line and cat repeats it: cat is running.
      h.awaitOutput(cat, "ready\r\nready\r\n");
      JsonObject closed = h.call(Host.close("c4", cat));
      assertEquals(Host.exited("c4", cat, 129), closed);
    }
  }

  @Test
  void listSessionsShowsCommandRunningAndExitCode() throws Exception {
    try (Host a = Host.open(agent.tcp()); Host b = Host.open(agent.tcp())) {
      String running = a.startShell(Host.shell("r", "cat"));
      String done = a.startShell(Host.shell("d", "/bin/sh", "-c", "exit 4"));
      assertEquals(4, a.collect(done).exitCode);
      JsonObject r = b.session(running);
      assertEquals(new JsonObject().put("session_id", running).put("command",
          new JsonArray().add("cat")).put("running", true), r, "no exit_code while running");
      JsonObject d = b.session(done);
      assertEquals(new JsonObject().put("session_id", done).put("command",
          new JsonArray().add("/bin/sh").add("-c").add("exit 4")).put("running", false)
          .put("exit_code", 4), d);
      String dflt = a.startShell(new JsonObject().put("id", "x").put("type", "shell"));
      assertEquals(new JsonArray().add("/bin/sh"), b.session(dflt).getJsonArray("command"));
      b.call(Host.close("c1", running));
      b.call(Host.close("c2", done));
      b.call(Host.close("c3", dflt));
      assertNull(b.session(running));
    }
  }

  @Test
  void shellRunsInTheGivenCwd(@TempDir Path tmp) throws Exception {
    Path dir = Files.createDirectory(tmp.resolve("shell cwd"));
    try (Host h = Host.open(agent.unix())) {
      String sid = h.startShell(Host.shell("w", "/bin/sh", "-c", "pwd").put("cwd",
          dir.toString()));
      assertEquals(dir.toRealPath() + "\r\n", h.collect(sid).text());
      h.call(Host.close("c", sid));
      JsonObject missing = h.call(Host.shell("m", "/bin/sh").put("cwd",
          dir.resolve("absent").toString()));
      assertEquals("m", missing.getString("id"));
      assertTrue(missing.getString("error").startsWith("Failed to start shell: "),
          missing.encode());
      assertEquals(2, missing.size(), "an error has only id and error: " + missing.encode());
    }
  }

  @Test
  void aSessionClosedByAnotherConnectionStillSendsItsReceiverEverythingAndExited(
      @TempDir Path tmp) throws Exception {
    Path written = tmp.resolve("written");
    String script = "head -c 600000 /dev/zero | tr '\\0' x; echo END; touch '" + written
        + "'; exec sleep 300";
    // The receiver reads nothing until the session is closed: its output waits in the agent.
    try (Host a = Host.openNotReading(agent.unix()); Host b = Host.open(agent.unix())) {
      a.send(Host.shell("sh", "/bin/sh", "-c", script));
      poll(() -> Files.exists(written), "the program never wrote its output");
      String sid = null;
      for (Object o : b.call(new JsonObject().put("id", "l").put("type", "list_sessions"))
          .getJsonArray("sessions")) {
        JsonObject e = (JsonObject) o;
        if (e.getJsonArray("command").contains(script)) {
          sid = e.getString("session_id");
        }
      }
      assertNotNull(sid);
      b.send(Host.close("c", sid));
      a.startReading();
      assertEquals(sid, a.started("sh"));
      Output out = a.collect(sid);
      assertEquals("x".repeat(600_000) + "END\r\n", out.text());
      assertEquals(129, out.exitCode);
      // The close is answered once the receiver has had all of it.
      assertEquals(Host.exited("c", sid, 129), b.nextFor("c", HANG));
    }
  }

  @Test
  void closeEndsEveryProcessOfTheSession() throws Exception {
    try (Host h = Host.open(agent.tcp())) {
      String sid = h.startShell(Host.shell("sh", "/bin/sh"));
      h.send(Host.input("i", sid, "sleep 300 & echo BG=$! SH=$$\n"));
      assertEquals(Host.ok("i"), h.nextFor("i", HANG));
      Matcher m = h.awaitOutput(sid, Pattern.compile("BG=(\\d+) SH=(\\d+)"));
      long bg = Long.parseLong(m.group(1));
      long shell = Long.parseLong(m.group(2));
      assertTrue(Procs.alive(bg) && Procs.alive(shell));
      assertTrue(Procs.sessionMembers(shell).contains(bg), "the job is in the shell's session");
      JsonObject closed = h.call(Host.close("c", sid));
      assertEquals(129, closed.getInteger("exit_code"));
      Procs.awaitGone(List.of(bg, shell));
      assertEquals(List.of(), Procs.sessionMembers(shell));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // A host for the tests: one connection, a reader thread that queues every frame, and bounded
  // waits.

  /** What a session sent until its exited event. */
  static final class Output {
    byte[] bytes;
    int frames;
    long droppedBytes;
    Long firstDropped;
    int exitCode;
    JsonObject exited;

    String text() {
      return new String(bytes, StandardCharsets.UTF_8);
    }
  }

  static final class Host implements AutoCloseable {
    private static final Object EOF = new Object();
    /**
     * The socket is used through the channel itself: a reader thread and a writer may use it at
     * once (the stream adapters of {@code Channels} would serialise them on one lock).
     */
    private final SocketChannel channel;
    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    /** Frames received but not yet taken, in arrival order. */
    private final List<JsonObject> inbox = new ArrayList<>();
    private final ByteArrayOutputStream seen = new ByteArrayOutputStream();

    private Host(SocketChannel channel) {
      this.channel = channel;
    }

    static Host open(String address) throws IOException {
      Host h = openNotReading(address);
      h.startReading();
      return h;
    }

    /** A host that does not read its socket until {@link #startReading()}. */
    static Host openNotReading(String address) throws IOException {
      if (address.startsWith("unix:")) {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(address.substring("unix:".length())));
        return new Host(ch);
      }
      String rest = address.substring("tcp://".length());
      int colon = rest.lastIndexOf(':');
      SocketChannel ch = SocketChannel.open(new InetSocketAddress(rest.substring(0, colon),
          Integer.parseInt(rest.substring(colon + 1))));
      ch.socket().setTcpNoDelay(true);
      return new Host(ch);
    }

    void startReading() {
      Thread reader = new Thread(() -> {
        try {
          ByteBuffer header = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
          while (true) {
            header.clear();
            readFully(header);
            int n = header.getInt(0);
            assertTrue(n >= 0 && n <= 10 * 1024 * 1024, "frame length " + n);
            ByteBuffer body = ByteBuffer.allocate(n);
            readFully(body);
            queue.add(new JsonObject(new String(body.array(), StandardCharsets.UTF_8)));
          }
        } catch (IOException e) {
          queue.add(EOF);
        }
      }, "host-reader");
      reader.setDaemon(true);
      reader.start();
    }

    private void readFully(ByteBuffer b) throws IOException {
      while (b.hasRemaining()) {
        if (channel.read(b) < 0) {
          throw new EOFException();
        }
      }
    }

    void send(JsonObject request) throws IOException {
      byte[] body = request.encode().getBytes(StandardCharsets.UTF_8);
      ByteBuffer frame = ByteBuffer.allocate(4 + body.length).order(ByteOrder.LITTLE_ENDIAN);
      frame.putInt(body.length).put(body).flip();
      synchronized (channel) {
        while (frame.hasRemaining()) {
          channel.write(frame);
        }
      }
    }

    /** True when every frame received so far has been taken. */
    boolean nothingElse() {
      return inbox.isEmpty() && queue.isEmpty();
    }

    /** The first frame that matches, in arrival order, within {@code bound}. */
    JsonObject take(Predicate<JsonObject> match, Duration bound) throws InterruptedException {
      for (int i = 0; i < inbox.size(); i++) {
        if (match.test(inbox.get(i))) {
          return inbox.remove(i);
        }
      }
      long deadline = System.nanoTime() + bound.toNanos();
      while (true) {
        long left = deadline - System.nanoTime();
        Object o = left <= 0 ? null : queue.poll(left, TimeUnit.NANOSECONDS);
        if (o == null) {
          throw new AssertionError("no matching frame within " + bound + "; unread: " + inbox);
        }
        if (o == EOF) {
          queue.add(EOF);
          throw new AssertionError("the agent closed the connection; unread: " + inbox);
        }
        JsonObject f = (JsonObject) o;
        if (match.test(f)) {
          return f;
        }
        inbox.add(f);
      }
    }

    /** The next frame, whatever it is. */
    JsonObject next(Duration bound) throws InterruptedException {
      return take(f -> true, bound);
    }

    /**
     * The answer to the request with this id. (Events carry the id of their shell request, which
     * the tests never reuse for another request.)
     */
    JsonObject nextFor(String id, Duration bound) throws InterruptedException {
      return take(f -> id.equals(f.getString("id")), bound);
    }

    /** Sends a request and returns its answer; other frames stay for later. */
    JsonObject call(JsonObject request) throws Exception {
      send(request);
      return nextFor(request.getString("id"), HANG);
    }

    /** Sends {@code shell} and asserts that the first frame with its id is the started answer. */
    String startShell(JsonObject request) throws Exception {
      send(request);
      return started(request.getString("id"));
    }

    String started(String id) throws Exception {
      JsonObject f = take(x -> id.equals(x.getString("id")), HANG);
      assertEquals("started", f.getString("shell_event"), "first frame: " + f.encode());
      assertEquals(3, f.size(), "started is {id, session_id, shell_event}: " + f.encode());
      String sid = f.getString("session_id");
      assertNotNull(sid);
      return sid;
    }

    private static Predicate<JsonObject> eventOf(String sid) {
      return f -> sid.equals(f.getString("session_id")) && f.getString("shell_event") != null
          && !"started".equals(f.getString("shell_event"));
    }

    /** Output events of one session up to its exited event, which must come last. */
    Output collect(String sid) throws Exception {
      Output out = new Output();
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      long deadline = System.nanoTime() + HANG.toNanos();
      while (true) {
        JsonObject f = take(eventOf(sid),
            Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
        switch (f.getString("shell_event")) {
          case "output" -> {
            byte[] data = Base64.getDecoder().decode(f.getString("output_base64"));
            assertTrue(data.length > 0, "no empty output events");
            bytes.writeBytes(data);
            Long d = f.getLong("dropped_bytes");
            if (out.frames == 0) {
              out.firstDropped = d;
            }
            out.droppedBytes += d == null ? 0 : d;
            out.frames++;
          }
          case "exited" -> {
            out.bytes = bytes.toByteArray();
            out.exitCode = f.getInteger("exit_code");
            out.exited = f;
            assertEquals(4, f.size(), "exited is {id, exit_code, session_id, shell_event}");
            return out;
          }
          default -> fail("unexpected event " + f.encode());
        }
      }
    }

    /** Reads the session's output until it contains {@code text}. */
    void awaitOutput(String sid, String text) throws Exception {
      awaitOutput(sid, Pattern.compile(Pattern.quote(text)));
    }

    /** Reads the session's output until it matches; later waits see only what follows. */
    Matcher awaitOutput(String sid, Pattern pattern) throws Exception {
      long deadline = System.nanoTime() + HANG.toNanos();
      while (true) {
        String text = seen.toString(StandardCharsets.UTF_8);
        Matcher m = pattern.matcher(text);
        if (m.find()) {
          seen.reset();
          seen.writeBytes(text.substring(m.end()).getBytes(StandardCharsets.UTF_8));
          return m;
        }
        JsonObject f = take(eventOf(sid),
            Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
        assertEquals("output", f.getString("shell_event"), "exited before " + pattern
            + "; output: " + text);
        seen.writeBytes(Base64.getDecoder().decode(f.getString("output_base64")));
      }
    }

    /** The session's entry in list_sessions, or null. */
    JsonObject session(String sid) throws Exception {
      JsonObject r = call(new JsonObject().put("id", "ls").put("type", "list_sessions"));
      assertEquals(0, r.getInteger("exit_code"), r.encode());
      for (Object o : r.getJsonArray("sessions")) {
        JsonObject s = (JsonObject) o;
        if (sid.equals(s.getString("session_id"))) {
          return s;
        }
      }
      return null;
    }

    @Override
    public void close() throws IOException {
      channel.close();
    }

    static JsonObject shell(String id, String... command) {
      return new JsonObject().put("id", id).put("type", "shell")
          .put("command", new JsonArray(List.of((Object[]) command)));
    }

    static JsonObject input(String id, String sid, String text) {
      return new JsonObject().put("id", id).put("type", "shell_input").put("session_id", sid)
          .put("input_base64", Base64.getEncoder().encodeToString(
              text.getBytes(StandardCharsets.UTF_8)));
    }

    static JsonObject resize(String id, String sid, int rows, int cols) {
      return new JsonObject().put("id", id).put("type", "shell_resize").put("session_id", sid)
          .put("rows", rows).put("cols", cols);
    }

    static JsonObject close(String id, String sid) {
      return new JsonObject().put("id", id).put("type", "shell_close").put("session_id", sid);
    }

    static JsonObject attach(String id, String sid) {
      return new JsonObject().put("id", id).put("type", "shell_attach").put("session_id", sid);
    }

    static JsonObject ping(String id) {
      return new JsonObject().put("id", id).put("type", "ping");
    }

    static JsonObject ok(String id) {
      return new JsonObject().put("id", id).put("exit_code", 0);
    }

    static JsonObject exited(String id, String sid, int code) {
      return new JsonObject().put("id", id).put("exit_code", code).put("session_id", sid)
          .put("shell_event", "exited");
    }
  }

  /** Processes as /proc shows them. */
  static final class Procs {
    private Procs() {}

    /** Alive and not a zombie. */
    static boolean alive(long pid) {
      ProcStat stat = ProcStat.read(pid);
      return stat != null && stat.state() != 'Z' && stat.state() != 'X';
    }

    /** Live processes whose session id is {@code sid}. */
    static List<Long> sessionMembers(long sid) {
      List<Long> out = new ArrayList<>();
      ProcStat.scan(p -> {
        if (p.session() == sid && p.state() != 'Z' && p.state() != 'X') {
          out.add(p.pid());
        }
      });
      return out;
    }

    /** Resident memory of a process in KiB. */
    static long rssKib(long pid) throws IOException {
      for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
      }
      throw new IOException("no VmRSS for " + pid);
    }

    /**
     * Waits until none of {@code pids} is alive. The agent cannot tell a host when the kernel
     * has finished with a killed process, so this looks at /proc, within a bound.
     */
    static void awaitGone(List<Long> pids) throws InterruptedException {
      poll(() -> pids.stream().noneMatch(Procs::alive), "processes still alive: " + pids);
    }
  }

  /**
   * Polls a state that nothing announces (a session's status while nobody receives its events,
   * /proc), every few milliseconds, within {@link #HANG}.
   */
  static void poll(BooleanSupplier done, String what) throws InterruptedException {
    long deadline = System.nanoTime() + HANG.toNanos();
    AtomicInteger rounds = new AtomicInteger();
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(what + " (after " + rounds + " checks)");
      }
      rounds.incrementAndGet();
      TimeUnit.MILLISECONDS.sleep(10);
    }
  }
}
