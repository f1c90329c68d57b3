package bench;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.LongStream;

/**
 * The benchmark: measures the agent and, in the same run, this machine's floors (a C server
 * answering framed pings, posix_spawn of /bin/true, a bare JVM answering one ping), and prints
 * each figure with its ratio to its floor as a Markdown table.
 *
 * <pre>
 * bin/bench [--quick] [--agent tcp://HOST:PORT] [--files-only] [--jar AGENT_JAR] [--kill-only]
 *     [--runs-only] [--json-only]
 * </pre>
 *
 * {@code --files-only} measures the file figures alone (with the agent's CPU per request), and
 * {@code --jar} starts that agent jar instead of target/agent.jar: together they compare two
 * builds under the same run conditions.
 *
 * Without {@code --agent} it starts {@code bin/agent} itself, which also measures start-up and
 * idle memory.
 */
public final class Bench {
  private final Path root;
  private final Path floors;
  private final boolean quick;
  private final boolean tty = System.console() != null;
  private final List<String[]> rows = new ArrayList<>();
  private boolean filesOnly;
  private String jar;

  private Bench(Path root, Path floors, boolean quick) {
    this.root = root;
    this.floors = floors;
    this.quick = quick;
  }

  public static void main(String[] args) throws Exception {
    Path root = Path.of(".");
    Path floors = Path.of("target/bench");
    String agent = null;
    boolean quick = false;
    boolean filesOnly = false;
    String jar = null;
    boolean killOnly = false;
    boolean runsOnly = false;
    boolean jsonOnly = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--root" -> root = Path.of(args[++i]);
        case "--floors" -> floors = Path.of(args[++i]);
        case "--agent" -> agent = args[++i];
        case "--quick" -> quick = true;
        case "--files-only" -> filesOnly = true;
        case "--jar" -> jar = args[++i];
        case "--kill-only" -> killOnly = true;
        case "--runs-only" -> runsOnly = true;
        case "--json-only" -> jsonOnly = true;
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    Bench bench = new Bench(root, floors, quick);
    bench.filesOnly = filesOnly;
    bench.jar = jar;
    if (jsonOnly) {
      bench.jsonOnly();
    } else if (killOnly) {
      bench.killOnly(agent);
    } else if (runsOnly) {
      bench.runsOnly();
    } else if (filesOnly) {
      bench.runFiles(agent);
    } else {
      bench.run(agent);
    }
  }

  /** {@code --json-only}: the in-process parse and serialise figures alone, with no agent. */
  private void jsonOnly() throws Exception {
    double[] json = jsonCosts(n(200_000));
    jsonRows(json);
    printTable();
  }

  private void jsonRows(double[] json) {
    row("parse a run request (in process)", String.format(Locale.ROOT, "%.2f µs", json[0] / 1e3),
        "", "", "");
    row("serialise a run response (in process)",
        String.format(Locale.ROOT, "%.2f µs", json[1] / 1e3), "", "", "");
  }

  /** {@code --kill-only}: the kill figure alone, against a fresh agent or the one given. */
  private void killOnly(String address) throws Exception {
    alone(address, (a, own) -> killRow(a));
  }

  /** One part of the benchmark, against the agent at {@code address}. */
  private interface Part {
    void measure(String address, Process own) throws Exception;
  }

  /**
   * Measures {@code part} against the agent at {@code address}, or against a fresh one started
   * with bin/agent when it is null, and prints the table.
   */
  private void alone(String address, Part part) throws Exception {
    Process own = null;
    if (address == null) {
      address = "tcp://127.0.0.1:" + freePort();
      own = startAgent(address);
      waitForPing(address, 30_000);
    }
    try {
      part.measure(address, own);
    } finally {
      if (own != null) {
        own.destroy();
        own.waitFor(5, TimeUnit.SECONDS);
      }
    }
    printTable();
  }

  /** Measures the run figures of the agent at {@code address} and adds their rows. */
  private void runRows(String address, Process own, double[] cPing, double[] spawn)
      throws Exception {
    long[] stolen0 = stealTimes();
    long cold0 = own == null ? 0 : cpuTicks(own.pid());
    double[] run = runs(address, n(500));
    // The latency loop is the agent's first runs (n/5 unmeasured, then n): its CPU per run
    // there is what a freshly booted VM pays while the JIT is still compiling the run path.
    double cold = own == null ? Double.NaN
        : (cpuTicks(own.pid()) - cold0) * 1e9 / TICKS_PER_SECOND / (n(500) + n(500) / 5);
    double[] cpu = own == null ? new double[] {Double.NaN} : agentCpuPerRun(address, own.pid(),
        n(2000));
    double[] threads = own == null ? new double[] {Double.NaN, Double.NaN}
        : threadsInFlight(address, own.pid(), 200);
    double[] through = throughput(address, own == null ? -1 : own.pid(), 16, n(100));
    double runFloor = spawn[0] + cPing[0];
    row("run /bin/true p50, a fresh agent's first runs", us(run[0]),
        "posix_spawn + C ping " + us(runFloor),
        ratio(run[0], runFloor), "at most 1.3x");
    row("run /bin/true p99", us(run[1]), "", "", "");
    if (!Double.isNaN(cpu[0])) {
      double warmFloor = cpu[3] + cPing[0];
      row("run /bin/true p50 after the first " + (n(500) + n(500) / 5 + n(2000) / 5)
          + " runs, against posix_spawn + C ping in alternate blocks", us(cpu[2]),
          "posix_spawn + C ping " + us(warmFloor), ratio(cpu[2], warmFloor), "at most 1.3x");
      row("agent's own CPU per run /bin/true (children excluded)", us(cpu[0]),
          "C spawner's own CPU per spawn, in alternate blocks " + us(cpu[1]),
          ratio(cpu[0], cpu[1]), "at most 5x");
      row("agent's own CPU per run over its first " + (n(500) + n(500) / 5) + " runs",
          us(cold), "C spawner's own CPU per spawn " + us(spawn[3]), ratio(cold, spawn[3]), "");
      row("agent threads: idle, then with 200 runs in flight",
          String.format(Locale.ROOT, "%.0f, then %.0f", threads[0], threads[1]), "", "",
          "at most 16 more");
    }
    row("runs/s over 16 connections", String.format(Locale.ROOT, "%.0f", through[0]),
        "one core spawning " + String.format(Locale.ROOT, "%.0f", spawn[2]),
        ratio(through[0], spawn[2]), "at least 1.2x");
    row("runs/s over 16 connections, against every core spawning at once",
        String.format(Locale.ROOT, "%.0f", through[0]),
        String.format(Locale.ROOT, "%d C spawners %.0f", Runtime.getRuntime()
            .availableProcessors(), spawn[4]), ratio(through[0], spawn[4]), "");
    row("C spawners' own CPU per spawn, every core at once", us(spawn[5]),
        "one core " + us(spawn[3]), ratio(spawn[5], spawn[3]), "");
    if (!Double.isNaN(through[2])) {
      row("agent's own CPU per run over 16 connections", us(through[2]),
          "every core spawning " + us(spawn[5]), ratio(through[2], spawn[5]), "");
    }
    row("CPU busy meanwhile (all cores, client included)",
        String.format(Locale.ROOT, "%.0f %% of %d cores", through[1] * 100,
            Runtime.getRuntime().availableProcessors()), "", "", "");
    long[] stolen1 = stealTimes();
    // Time the hypervisor ran something else on this VM's CPUs: every figure above is slower
    // by it, the floors as much as the agent, but not always in the same part of the run.
    row("CPU stolen by the host during the run figures (steal, all cores)",
        String.format(Locale.ROOT, "%.1f %%", 100.0 * (stolen1[0] - stolen0[0])
            / Math.max(1, stolen1[1] - stolen0[1])), "", "", "");
  }

  /** Stolen and total jiffies of all CPUs, from /proc/stat (0 where the kernel counts none). */
  private static long[] stealTimes() throws IOException {
    long[] f = allCpus();
    return new long[] {f.length > 7 ? f[7] : 0, LongStream.of(f).sum()};
  }

  /**
   * {@code --runs-only}: the run figures alone (latency, the agent's own CPU per run, threads in
   * flight, throughput) against their floors, on a fresh agent.
   */
  private void runsOnly() throws Exception {
    double[] cPing = cPings();
    double[] spawn = spawnFloor(n(2000));
    alone(null, (address, own) -> runRows(address, own, cPing, spawn));
  }

  private void killRow(String address) throws Exception {
    // No more runs than the agent allows at once (its memory plan may have lowered max_runs).
    int n = Math.min(200, maxRuns(address));
    double[] kill = new double[quick ? 1 : 3];
    for (int i = 0; i < kill.length; i++) {
      kill[i] = killAfterClose(address, n);
    }
    double[] floor = new double[kill.length];
    for (int i = 0; i < floor.length; i++) {
      floor[i] = killFloor(n);
    }
    Arrays.sort(kill);
    Arrays.sort(floor);
    double k = kill[kill.length / 2];
    double f = floor[floor.length / 2];
    row(n + " connections running `sleep 30` close: until the last process is gone, zombies "
        + "included (median of " + kill.length + ")", ms(k),
        "SIGKILL to " + n + " sleeps " + ms(f), ratio(k, f), "at most 0.5 s");
  }

  /** The agent's {@code max_runs}, from {@code info}. */
  private static int maxRuns(String address) throws IOException {
    try (AgentConnection c = AgentConnection.open(address)) {
      JsonObject r = c.call(new JsonObject().put("id", "limits").put("type", "info"));
      return r.getJsonObject("info").getJsonObject("limits").getInteger("max_runs");
    }
  }

  /**
   * The floor for the kill figure: this process starts {@code n} {@code sleep 30} itself, sends
   * each SIGKILL and waits until the last has been reaped.
   */
  private double killFloor(int n) throws Exception {
    List<Process> ps = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        ps.add(new ProcessBuilder("sleep", "30").start());
      }
      progress("killing " + n + " sleeps");
      long t0 = System.nanoTime();
      for (Process p : ps) {
        p.destroyForcibly();
      }
      for (Process p : ps) {
        p.waitFor();
        Path proc = Path.of("/proc", Long.toString(p.pid()));
        while (Files.exists(proc)) {
          Thread.sleep(0, 200_000);
        }
      }
      return System.nanoTime() - t0;
    } finally {
      ps.forEach(Process::destroyForcibly);
    }
  }

  /**
   * Opens {@code n} connections, each running {@code sleep 30}, closes them all, and returns the
   * nanoseconds from the first close until the last of those processes has left /proc (so a
   * zombie not yet reaped still counts).
   */
  private double killAfterClose(String address, int n) throws Exception {
    String arg = "30." + Long.toString(System.nanoTime() % 1_000_000_000L);
    List<AgentConnection> conns = new ArrayList<>();
    try {
      for (int i = 0; i < n; i++) {
        AgentConnection c = AgentConnection.open(address);
        conns.add(c);
        c.send(new JsonObject().put("id", "k" + i).put("type", "run")
            .put("command", new JsonArray().add("sleep").add(arg)));
      }
      List<Long> pids = List.of();
      long deadline = System.nanoTime() + 60_000_000_000L;
      while (pids.size() < n) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("only " + pids.size() + " of " + n + " started");
        }
        Thread.sleep(10);
        pids = withArg(arg);
      }
      progress("closing " + n + " connections");
      long t0 = System.nanoTime();
      for (AgentConnection c : conns) {
        c.close();
      }
      conns.clear();
      for (long pid : pids) {
        Path proc = Path.of("/proc", Long.toString(pid));
        while (Files.exists(proc)) {
          if (System.nanoTime() - t0 > 60_000_000_000L) {
            throw new IllegalStateException("process " + pid + " still there after 60 s");
          }
          Thread.sleep(0, 200_000);
        }
      }
      return System.nanoTime() - t0;
    } finally {
      for (AgentConnection c : conns) {
        c.close();
      }
    }
  }

  /** Pids of the processes whose command line has {@code arg} as an argument. */
  private static List<Long> withArg(String arg) throws IOException {
    List<Long> out = new ArrayList<>();
    try (var dir = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : dir) {
        try {
          String cmd = new String(Files.readAllBytes(p.resolve("cmdline")),
              java.nio.charset.StandardCharsets.UTF_8);
          if (Arrays.asList(cmd.split("\0")).contains(arg)) {
            out.add(Long.parseLong(p.getFileName().toString()));
          }
        } catch (IOException e) {
          // Gone.
        }
      }
    }
    return out;
  }

  /** The C server's ping latencies over TCP: the floor of every request's figure. */
  private double[] cPings() throws Exception {
    int cPort = freePort();
    Process cServer = start(List.of(floors.resolve("ping_server").toString(),
        Integer.toString(cPort)), "ready");
    try {
      return pings("tcp://127.0.0.1:" + cPort, n(5000), "C ping server");
    } finally {
      cServer.destroy();
    }
  }

  private int n(int full) {
    return quick ? Math.max(5, full / 10) : full;
  }

  private void run(String agentAddress) throws Exception {
    // Floors.
    double[] cPing = cPings();
    Path cSock = Files.createTempDirectory("bench-ping").resolve("c.sock");
    Process cUnixServer = start(List.of(floors.resolve("ping_server").toString(),
        "unix:" + cSock), "ready");
    double[] cUnixPing;
    try {
      cUnixPing = pings("unix:" + cSock, n(5000), "C ping server over Unix");
    } finally {
      cUnixServer.destroy();
    }
    double[] spawn = spawnFloor(n(2000));
    double bareJvm = median(startups(() -> List.of(javaBin(), "-Xshare:auto", "-cp",
        floors.toString(), "BarePing"), n(20), "bare JVM start"));

    // The agent.
    Process own = null;
    String address = agentAddress;
    double startup = Double.NaN;
    double rss = Double.NaN;
    double rssQuiet = Double.NaN;
    String unix = null;
    if (address == null) {
      startup = median(startups(() -> List.of(root.resolve("bin/agent").toString(), "--listen"),
          n(20), "agent start"));
      int port = freePort();
      address = "tcp://127.0.0.1:" + port;
      unix = "unix:" + Files.createTempDirectory("bench-agent").resolve("agent.sock");
      own = startAgent(address, unix);
      waitForPing(address, 30_000);
      Thread.sleep(1500);
      rss = rssMiB(own.pid());
      // Past the quiet time (10 s) after which the agent trims what its start left free.
      Thread.sleep(11_500);
      rssQuiet = rssMiB(own.pid());
    }
    try {
      double[] ping = pings(address, n(5000), "agent ping");
      double[] unixPing = unix == null ? null : pings(unix, n(5000), "agent ping over Unix");
      double[] idle = unix == null ? null : idleConnections(own.pid(), unix, 1000);
      double[] hop = busRoundTrips(address, n(5000));
      double[] json = jsonCosts(n(200_000));
      double[] files = files(address, n(20));
      double[] small = smallFiles(address, n(5000), own == null ? -1 : own.pid());
      double[] shell = shellEcho(address, n(500));
      double ctlPing = median(agentctlRuns(address, n(20)));

      row("ping p50", us(ping[0]), "C server " + us(cPing[0]), ratio(ping[0], cPing[0]),
          "at most 1.5x");
      row("ping p99", us(ping[1]), "C server " + us(cPing[1]), ratio(ping[1], cPing[1]), "");
      if (unixPing != null) {
        row("ping p50 over Unix", us(unixPing[0]), "C server on Unix " + us(cUnixPing[0]),
            ratio(unixPing[0], cUnixPing[0]), "at most 1.5x");
        row("ping p50 over Unix, against the agent's TCP ping", us(unixPing[0]),
            "TCP " + us(ping[0]), ratio(unixPing[0], ping[0]), "at most 1.1x");
        row("ping p99 over Unix", us(unixPing[1]), "C server on Unix " + us(cUnixPing[1]),
            ratio(unixPing[1], cUnixPing[1]), "");
        row("threads added by 1,000 idle Unix connections",
            String.format(Locale.ROOT, "%+.0f", idle[0]), "", "", "at most +8");
        row("memory added by 1,000 idle Unix connections",
            String.format(Locale.ROOT, "%+.1f MiB", idle[1]), "", "", "at most +64 MiB");
      }
      row("list_sessions p50 (ping + an event-bus round trip)", us(hop[0]), "ping " + us(ping[0]),
          ratio(hop[0], ping[0]), "");
      jsonRows(json);
      runRows(address, own, cPing, spawn);
      row("write 8 MiB p50", ms(files[0]), "", "", "");
      row("read 8 MiB p50", ms(files[1]), "", "", "");
      smallRows(small);
      row("shell echo round trip p50", us(shell[0]), "", "", "");
      row("shell echo round trip p99", us(shell[1]), "", "", "");
      row("agentctl ping, exec to exit", ms(ctlPing), "bare JVM " + ms(bareJvm),
          ratio(ctlPing, bareJvm), "");
      killRow(address);
      if (!Double.isNaN(startup)) {
        row("exec to first answered ping", ms(startup), "bare JVM " + ms(bareJvm),
            ratio(startup, bareJvm), "at most 3x");
        row("idle RSS 1.5 s after ready", String.format(Locale.ROOT, "%.1f MiB", rss), "", "",
            "at most 48 MiB");
        row("idle RSS 13 s after ready (after the trim that follows the start)",
            String.format(Locale.ROOT, "%.1f MiB", rssQuiet), "", "", "at most 48 MiB");
      } else {
        row("bare JVM exec to first ping", ms(bareJvm), "", "", "");
      }
    } finally {
      if (own != null) {
        own.destroy();
        own.waitFor(5, TimeUnit.SECONDS);
      }
    }
    printTable();
  }

  private void row(String... cells) {
    rows.add(cells);
  }

  private static String us(double nanos) {
    return String.format(Locale.ROOT, "%.0f µs", nanos / 1e3);
  }

  private static String ms(double nanos) {
    return String.format(Locale.ROOT, "%.1f ms", nanos / 1e6);
  }

  private static String ratio(double a, double b) {
    return String.format(Locale.ROOT, "%.2fx", a / b);
  }

  private void progress(String what) {
    if (tty) {
      System.err.print("\r\033[K" + what);
      System.err.flush();
    } else if (!what.isEmpty()) {
      System.err.println(what);
    }
  }

  /** p50 and p99 of sequential pings on one connection, after a warm-up, in nanoseconds. */
  private double[] pings(String address, int n, String label) throws Exception {
    try (AgentConnection c = AgentConnection.open(address)) {
      JsonObject ping = new JsonObject().put("id", "1").put("type", "ping");
      long[] t = new long[n];
      for (int i = -n / 5; i < n; i++) {
        long t0 = System.nanoTime();
        c.call(ping);
        if (i >= 0) {
          t[i] = System.nanoTime() - t0;
        }
        if (i % 500 == 0) {
          progress(label + " " + Math.max(0, i) + "/" + n);
        }
      }
      return percentiles(t);
    }
  }

  /**
   * Threads and resident memory (MiB) that {@code n} idle Unix connections add to the agent: each
   * is connected and has been answered one ping, then they all wait.
   */
  private double[] idleConnections(long pid, String unix, int n) throws Exception {
    int threads0 = threadCount(pid);
    double rss0 = rssMiB(pid);
    List<java.nio.channels.SocketChannel> open = new ArrayList<>();
    java.net.UnixDomainSocketAddress where =
        java.net.UnixDomainSocketAddress.of(unix.substring("unix:".length()));
    byte[] ping = new JsonObject().put("id", "1").put("type", "ping").encode()
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    java.nio.ByteBuffer frame = java.nio.ByteBuffer.allocate(4 + ping.length)
        .order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(ping.length).put(ping);
    try {
      for (int i = 0; i < n; i++) {
        java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open(where);
        open.add(ch);
        ch.write(frame.flip());
        java.nio.ByteBuffer answer = java.nio.ByteBuffer.allocate(64);
        while (answer.position() < 4 + 24 && ch.read(answer) > 0) {
          // Until the whole {"id":"1","exit_code":0} frame is in.
        }
        if (i % 100 == 0) {
          progress("idle Unix connections " + i + "/" + n);
        }
      }
      Thread.sleep(1000);
      return new double[] {threadCount(pid) - threads0, rssMiB(pid) - rss0};
    } finally {
      for (java.nio.channels.SocketChannel ch : open) {
        ch.close();
      }
    }
  }

  private static int threadCount(long pid) throws IOException {
    try (var s = Files.list(Path.of("/proc/" + pid + "/task"))) {
      return (int) s.count();
    }
  }

  /** Requests that cross the event bus to a verticle and back, and nothing else. */
  private double[] busRoundTrips(String address, int n) throws Exception {
    try (AgentConnection c = AgentConnection.open(address)) {
      JsonObject list = new JsonObject().put("id", "l").put("type", "list_sessions");
      long[] t = new long[n];
      for (int i = -n / 5; i < n; i++) {
        long t0 = System.nanoTime();
        c.call(list);
        if (i >= 0) {
          t[i] = System.nanoTime() - t0;
        }
      }
      progress("event-bus round trips done");
      return percentiles(t);
    }
  }

  /** Mean nanoseconds to parse a typical run request and to serialise a typical answer. */
  private double[] jsonCosts(int n) throws Exception {
    byte[] body = new JsonObject().put("id", "req-123").put("type", "run")
        .put("command", new JsonArray().add("/bin/sh").add("-c").add("echo hello"))
        .put("cwd", "/work").put("env", new JsonObject().put("A", "1")).put("timeout_ms", 5000)
        .encode().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    protocol.Response answer = protocol.Response.run("req-123", 0, "hello\n", false, "", false,
        false);
    long sink = 0;
    for (int i = 0; i < n / 4; i++) {
      sink += protocol.RequestParser.parse(body).id().length();
      sink += protocol.ResponseWriter.frame(answer).length;
    }
    long t0 = System.nanoTime();
    for (int i = 0; i < n; i++) {
      sink += protocol.RequestParser.parse(body).id().length();
    }
    long t1 = System.nanoTime();
    for (int i = 0; i < n; i++) {
      sink += protocol.ResponseWriter.frame(answer).length;
    }
    long t2 = System.nanoTime();
    if (sink == 42) {
      System.err.println();
    }
    return new double[] {(t1 - t0) / (double) n, (t2 - t1) / (double) n};
  }

  private double[] runs(String address, int n) throws Exception {
    try (AgentConnection c = AgentConnection.open(address)) {
      JsonObject run = new JsonObject().put("id", "r").put("type", "run")
          .put("command", new JsonArray().add("/bin/true"));
      long[] t = new long[n];
      for (int i = -n / 5; i < n; i++) {
        long t0 = System.nanoTime();
        JsonObject r = c.call(run);
        if (r.getInteger("exit_code", -1) != 0) {
          throw new IllegalStateException("run failed: " + r);
        }
        if (i >= 0) {
          t[i] = System.nanoTime() - t0;
        }
        if (i % 50 == 0) {
          progress("run /bin/true " + Math.max(0, i) + "/" + n);
        }
      }
      return percentiles(t);
    }
  }

  /**
   * The agent's own CPU (user + system, its children excluded) per sequential {@code run
   * /bin/true}, and the C spawner's own CPU per spawn, both in nanoseconds. The two are measured
   * in alternating blocks, so that the machine's drift over the measurement (on a nested VM the
   * floor itself moves by a third between runs) falls on both alike. The agent's figure is
   * utime + stime from /proc/PID/stat around its blocks. Then, from the same blocks, the p50 of
   * the agent's runs and of the spawner's spawns, each the mean of its blocks' p50s: the latency
   * of an agent past its first runs, against a floor taken beside it.
   */
  private double[] agentCpuPerRun(String address, long pid, int n) throws Exception {
    int blocks = 5;
    int each = Math.max(1, n / blocks);
    try (AgentConnection c = AgentConnection.open(address)) {
      JsonObject run = new JsonObject().put("id", "c").put("type", "run")
          .put("command", new JsonArray().add("/bin/true"));
      for (int i = 0; i < n / 5; i++) {
        c.call(run);
      }
      long ticks = 0;
      double floor = 0;
      double latency = 0;
      double spawnLatency = 0;
      long[] t = new long[each];
      for (int b = 0; b < blocks; b++) {
        double[] spawned = spawnTrue(each);
        floor += spawned[3] / blocks;
        spawnLatency += spawned[0] / blocks;
        long t0 = cpuTicks(pid);
        for (int i = 0; i < each; i++) {
          long s0 = System.nanoTime();
          c.call(run);
          t[i] = System.nanoTime() - s0;
        }
        ticks += cpuTicks(pid) - t0;
        latency += percentiles(t)[0] / blocks;
        progress("agent CPU per run " + (b + 1) * each + "/" + blocks * each);
      }
      return new double[] {ticks * 1e9 / TICKS_PER_SECOND / (blocks * each), floor, latency,
          spawnLatency};
    }
  }

  /** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
  private static final double TICKS_PER_SECOND = 100;

  /** utime + stime of process {@code pid}, children excluded, in clock ticks. */
  static long cpuTicks(long pid) throws IOException {
    process.ProcStat s = process.ProcStat.read(pid);
    if (s == null) {
      throw new IOException("cannot read /proc/" + pid + "/stat");
    }
    return s.utime() + s.stime();
  }

  /** The agent's thread count idle, and the most seen while {@code n} runs are in flight. */
  private double[] threadsInFlight(String address, long pid, int n) throws Exception {
    int idle = threads(pid);
    int conns = 4;
    List<AgentConnection> cs = new ArrayList<>();
    try {
      for (int k = 0; k < conns; k++) {
        cs.add(AgentConnection.open(address));
      }
      for (int i = 0; i < n; i++) {
        cs.get(i % conns).send(new JsonObject().put("id", "f" + i).put("type", "run")
            .put("command", new JsonArray().add("/bin/sleep").add("3")));
      }
      int most = idle;
      long end = System.nanoTime() + 2_500_000_000L;
      while (System.nanoTime() < end) {
        most = Math.max(most, threads(pid));
        Thread.sleep(20);
      }
      for (int i = 0; i < n; i++) {
        JsonObject r = cs.get(i % conns).receive();
        if (r.getInteger("exit_code", -1) != 0) {
          throw new IllegalStateException("run failed: " + r);
        }
      }
      progress("threads with " + n + " runs in flight done");
      return new double[] {idle, most};
    } finally {
      for (AgentConnection c : cs) {
        c.close();
      }
    }
  }

  private static int threads(long pid) throws IOException {
    for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
      if (l.startsWith("Threads:")) {
        return Integer.parseInt(l.substring(8).trim());
      }
    }
    return -1;
  }

  /** Busy and total jiffies of all CPUs, from /proc/stat. */
  private static long[] cpuTimes() throws IOException {
    long[] f = allCpus();
    long total = LongStream.of(f).sum();
    return new long[] {total - f[3] - f[4], total};
  }

  /** The jiffies of the "cpu" line of /proc/stat: user, nice, system, idle, iowait, ... */
  private static long[] allCpus() throws IOException {
    String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
    return Arrays.stream(f, 1, f.length).mapToLong(Long::parseLong).toArray();
  }

  /**
   * Runs per second with {@code conns} connections each running {@code each} in a row, how busy
   * the machine's cores were meanwhile (1.0 = every core all the time), and the own CPU per run
   * (nanoseconds) of the agent with process id {@code pid} (NaN when it is -1).
   */
  private double[] throughput(String address, long pid, int conns, int each) throws Exception {
    long[] cpu0 = cpuTimes();
    long own0 = pid < 0 ? 0 : cpuTicks(pid);
    ExecutorService pool = Executors.newFixedThreadPool(conns);
    List<Future<?>> done = new ArrayList<>();
    long t0 = System.nanoTime();
    for (int k = 0; k < conns; k++) {
      done.add(pool.submit(() -> {
        try (AgentConnection c = AgentConnection.open(address)) {
          JsonObject run = new JsonObject().put("id", "t").put("type", "run")
              .put("command", new JsonArray().add("/bin/true"));
          for (int i = 0; i < each; i++) {
            c.call(run);
          }
        }
        return null;
      }));
    }
    for (Future<?> f : done) {
      f.get();
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    long[] cpu1 = cpuTimes();
    double own = pid < 0 ? Double.NaN
        : (cpuTicks(pid) - own0) * 1e9 / TICKS_PER_SECOND / (conns * each);
    pool.shutdown();
    progress("runs over " + conns + " connections done");
    return new double[] {conns * each / secs,
        (double) (cpu1[0] - cpu0[0]) / Math.max(1, cpu1[1] - cpu0[1]), own};
  }

  /** p50 of writing and of reading 8 MiB (in 4 MiB chunks, as frames allow), in nanoseconds. */
  private double[] files(String address, int n) throws Exception {
    Path dir = Files.createTempDirectory("agent-bench");
    String path = dir.resolve("blob").toString();
    byte[] chunk = new byte[4 * 1024 * 1024];
    new java.util.Random(1).nextBytes(chunk);
    String b64 = Base64.getEncoder().encodeToString(chunk);
    long[] w = new long[n];
    long[] r = new long[n];
    try (AgentConnection c = AgentConnection.open(address)) {
      for (int i = 0; i < n; i++) {
        long t0 = System.nanoTime();
        c.call(new JsonObject().put("id", "w").put("type", "write_file").put("path", path)
            .put("content_base64", b64));
        c.call(new JsonObject().put("id", "a").put("type", "write_file").put("path", path)
            .put("content_base64", b64).put("append", true));
        w[i] = System.nanoTime() - t0;
        t0 = System.nanoTime();
        long size = 0;
        for (long off = 0; off < 2L * chunk.length; off += chunk.length) {
          JsonObject got = c.call(new JsonObject().put("id", "r").put("type", "read_file")
              .put("path", path).put("offset", off).put("length", chunk.length));
          size += Base64.getDecoder().decode(got.getString("content_base64")).length;
        }
        r[i] = System.nanoTime() - t0;
        if (size != 2L * chunk.length) {
          throw new IllegalStateException("read back " + size + " bytes");
        }
        progress("write/read 8 MiB " + (i + 1) + "/" + n);
      }
      c.call(new JsonObject().put("id", "x").put("type", "remove_file").put("path",
          dir.toString()).put("recursive", true));
    }
    return new double[] {percentiles(w)[0], percentiles(r)[0]};
  }

  /** The file figures alone, against the agent at {@code address} or one started here. */
  private void runFiles(String agentAddress) throws Exception {
    alone(agentAddress, (address, own) -> {
      double[] files = files(address, n(20));
      double[] small = smallFiles(address, n(5000), own == null ? -1 : own.pid());
      row("write 8 MiB p50", ms(files[0]), "", "", "");
      row("read 8 MiB p50", ms(files[1]), "", "", "");
      smallRows(small);
    });
  }

  /** The rows gathered so far, as one Markdown table on stdout. */
  private void printTable() {
    progress("");
    System.out.println("| figure | agent | floor | ratio | target |");
    System.out.println("|---|---|---|---|---|");
    for (String[] r : rows) {
      System.out.println("| " + String.join(" | ", r) + " |");
    }
  }

  private Process startAgent(String... addresses) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(root.resolve("bin/agent").toString()));
    for (String a : addresses) {
      cmd.add("--listen");
      cmd.add(a);
    }
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.DISCARD);
    // The idle-connection figure opens 1,000 connections at once.
    pb.environment().put("AGENT_MAX_CONNECTIONS", "2000");
    if (jar != null) {
      pb.environment().put("AGENT_JAR", jar);
    }
    return pb.start();
  }

  private void smallRows(double[] small) {
    row("stat small file p50", us(small[0]), "", "", "");
    row("read_file small file (100 B) p50", us(small[1]), "", "", "");
    if (!Double.isNaN(small[2])) {
      row("agent CPU per stat", us(small[2]), "", "", "");
      row("agent CPU per read_file", us(small[3]), "", "", "");
      row("agent threads after the file requests", String.format(Locale.ROOT, "%.0f",
          small[4]), "", "", "");
    }
  }

  /**
   * p50 of stat and of read_file of a 100-byte file, one request at a time, in nanoseconds, then
   * the agent's CPU time per request for each (NaN without its pid) and its thread count.
   */
  private double[] smallFiles(String address, int n, long pid) throws Exception {
    Path dir = Files.createTempDirectory("agent-bench-small");
    Path file = dir.resolve("small.txt");
    Files.write(file, new byte[100]);
    long[] st = new long[n];
    long[] rd = new long[n];
    double[] cpu = {Double.NaN, Double.NaN};
    try (AgentConnection c = AgentConnection.open(address)) {
      JsonObject stat = new JsonObject().put("id", "s").put("type", "stat")
          .put("path", file.toString());
      JsonObject read = new JsonObject().put("id", "r").put("type", "read_file")
          .put("path", file.toString());
      // A long warm-up: with bin/agent's JIT flags, code compiled during the first loop would
      // be charged to whichever figure comes first.
      for (int i = 0; i < n; i++) {
        c.call(stat);
        c.call(read);
      }
      long c0 = pid > 0 ? cpuNanos(pid) : 0;
      for (int i = 0; i < n; i++) {
        long t0 = System.nanoTime();
        c.call(stat);
        st[i] = System.nanoTime() - t0;
      }
      long c1 = pid > 0 ? cpuNanos(pid) : 0;
      for (int i = 0; i < n; i++) {
        long t0 = System.nanoTime();
        JsonObject got = c.call(read);
        rd[i] = System.nanoTime() - t0;
        if (got.containsKey("error")) {
          throw new IllegalStateException(got.encode());
        }
      }
      long c2 = pid > 0 ? cpuNanos(pid) : 0;
      if (pid > 0) {
        cpu = new double[] {(double) (c1 - c0) / n, (double) (c2 - c1) / n};
      }
      progress("stat/read_file small file done");
    } finally {
      Files.deleteIfExists(file);
      Files.deleteIfExists(dir);
    }
    return new double[] {percentiles(st)[0], percentiles(rd)[0], cpu[0], cpu[1],
        pid > 0 ? threads(pid) : Double.NaN};
  }

  /** User and system CPU time of a process, from /proc/PID/stat (clock ticks of 10 ms). */
  private static long cpuNanos(long pid) throws IOException {
    return cpuTicks(pid) * 10_000_000L;
  }

  /** Time from sending one byte to a shell to seeing its echo, in nanoseconds. */
  private double[] shellEcho(String address, int n) throws Exception {
    try (AgentConnection c = AgentConnection.open(address)) {
      JsonObject started = c.call(new JsonObject().put("id", "s").put("type", "shell")
          .put("command", new JsonArray().add("/bin/cat")));
      String sid = started.getString("session_id");
      String x = Base64.getEncoder().encodeToString(new byte[] {'x'});
      long[] t = new long[n];
      for (int i = -n / 5; i < n; i++) {
        long t0 = System.nanoTime();
        c.send(new JsonObject().put("id", "i").put("type", "shell_input").put("session_id", sid)
            .put("input_base64", x));
        boolean echoed = false;
        boolean answered = false;
        while (!echoed || !answered) {
          JsonObject f = c.receive();
          if ("output".equals(f.getString("shell_event"))) {
            echoed = true;
          } else if ("i".equals(f.getString("id"))) {
            answered = true;
          }
        }
        if (i >= 0) {
          t[i] = System.nanoTime() - t0;
        }
        if (i % 100 == 0) {
          progress("shell echo " + Math.max(0, i) + "/" + n);
        }
      }
      c.call(new JsonObject().put("id", "c").put("type", "shell_close").put("session_id", sid));
      return percentiles(t);
    }
  }

  /**
   * posix_spawn of /bin/true: p50 and p99 in nanoseconds, spawns per second, and the spawner's
   * own CPU per spawn in nanoseconds.
   */
  private double[] spawnFloor(int n) throws Exception {
    progress("posix_spawn floor");
    double[] one = spawnTrue(n);
    // The same loop on every core at once: what this machine allows when spawns overlap (on a
    // nested VM they may not scale with cores at all).
    progress("posix_spawn floor on every core");
    int cores = Runtime.getRuntime().availableProcessors();
    List<Future<double[]>> each = new ArrayList<>();
    ExecutorService pool = Executors.newFixedThreadPool(cores);
    try {
      for (int k = 0; k < cores; k++) {
        each.add(pool.submit(() -> spawnTrue(Math.max(1, n / cores))));
      }
      double rate = 0;
      double cpu = 0;
      for (Future<double[]> f : each) {
        double[] r = f.get();
        rate += r[2];
        cpu += r[3] / cores;
      }
      return new double[] {one[0], one[1], one[2], one[3], rate, cpu};
    } finally {
      pool.shutdown();
    }
  }

  /**
   * One run of {@code spawn_true}: p50 and p99 in nanoseconds, spawns per second, and its own
   * CPU per spawn in nanoseconds.
   */
  private double[] spawnTrue(int n) throws Exception {
    Process p = new ProcessBuilder(floors.resolve("spawn_true").toString(), Integer.toString(n))
        .start();
    String line = new String(p.getInputStream().readAllBytes()).trim();
    if (p.waitFor() != 0) {
      throw new IllegalStateException("spawn_true failed: " + line);
    }
    String[] f = line.split(" ");
    return new double[] {Double.parseDouble(f[0]) * 1e3, Double.parseDouble(f[1]) * 1e3,
        Double.parseDouble(f[2]), Double.parseDouble(f[3]) * 1e3};
  }

  /** Times of {@code bin/agentctl ping} from exec to exit, in nanoseconds. */
  private double[] agentctlRuns(String address, int n) throws Exception {
    double[] t = new double[n];
    for (int i = 0; i < n; i++) {
      long t0 = System.nanoTime();
      Process p = new ProcessBuilder(root.resolve("bin/agentctl").toString(), "-c", address,
          "ping").redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
          .start();
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IllegalStateException("agentctl ping failed against " + address);
      }
      t[i] = System.nanoTime() - t0;
      progress("agentctl ping " + (i + 1) + "/" + n);
    }
    return t;
  }

  /** Times from exec to the first answered ping, in nanoseconds. */
  private double[] startups(java.util.function.Supplier<List<String>> cmd, int n, String label)
      throws Exception {
    double[] t = new double[n];
    for (int i = 0; i < n; i++) {
      int port = freePort();
      List<String> c = new ArrayList<>(cmd.get());
      if (c.get(c.size() - 1).equals("--listen")) {
        c.add("tcp://127.0.0.1:" + port);
      } else {
        c.add(Integer.toString(port));
      }
      long t0 = System.nanoTime();
      Process p = new ProcessBuilder(c).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      waitForPing("tcp://127.0.0.1:" + port, 30_000);
      t[i] = System.nanoTime() - t0;
      p.destroy();
      p.waitFor(5, TimeUnit.SECONDS);
      progress(label + " " + (i + 1) + "/" + n);
    }
    return t;
  }

  private static void waitForPing(String address, long timeoutMs) throws Exception {
    long deadline = System.nanoTime() + timeoutMs * 1_000_000;
    while (true) {
      try (AgentConnection c = AgentConnection.open(address)) {
        c.call(new JsonObject().put("id", "1").put("type", "ping"));
        return;
      } catch (IOException e) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("nothing answered on " + address, e);
        }
        Thread.sleep(1);
      }
    }
  }

  private Process start(List<String> cmd, String readyLine) throws IOException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));
    String line;
    while ((line = r.readLine()) != null && !line.contains(readyLine)) {
      // Wait for the server to say it listens.
    }
    return p;
  }

  private static double rssMiB(long pid) throws IOException {
    for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
      if (l.startsWith("VmRSS:")) {
        return Long.parseLong(l.replaceAll("[^0-9]", "")) / 1024.0;
      }
    }
    return Double.NaN;
  }

  private static String javaBin() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static double[] percentiles(long[] t) {
    long[] s = t.clone();
    Arrays.sort(s);
    return new double[] {s[s.length / 2], s[Math.min(s.length - 1, (int) (s.length * 0.99))]};
  }

  private static double median(double[] t) {
    double[] s = t.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }
}
