package verticles;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import process.ProcStat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ShellEventsTest.HANG;
import support.AgentProcess;
import verticles.ShellEventsTest.Host;
import verticles.ShellEventsTest.Procs;

/**
 * Endless writers nobody reads: the agent stays responsive and its memory bounded, whether the
 * host does not read its socket (the writers are held back) or nobody is attached (the backlog
 * drops its oldest bytes). Each test has a fresh agent with the heap flags of {@code bin/agent},
 * so that its RSS reflects what the agent holds rather than how far the JVM lets garbage grow on a
 * large test machine.
 */
class ShellFloodTest {
  static final long RSS_BOUND_KIB = 300 * 1024;
  /** How long the writers run unread while the agent is probed. */
  static final long LOAD_MS = 3_000;

  static AgentProcess agent;

  @BeforeEach
  void start(@TempDir Path dir) throws Exception {
    agent = AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0", "--listen",
        "unix:" + dir.resolve("agent.sock")), Map.of("JAVA_TOOL_OPTIONS",
            "-XX:+UseSerialGC -Xms8m -Xmx192m -XX:+ExitOnOutOfMemoryError")).awaitReady();
    // Warm up, so that the first measurement counts the classes that sessions load.
    try (Host h = Host.open(agent.unix())) {
      String sid = h.startShell(Host.shell("w", "seq", "1", "20000"));
      h.collect(sid);
      h.call(Host.close("c", sid));
    }
  }

  @AfterEach
  void stop() throws Exception {
    agent.close();
  }

  /** The agent's children running {@code yes}. */
  static List<Long> yesProcesses() throws IOException {
    List<Long> out = new ArrayList<>();
    try (var dir = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : dir) {
        ProcStat f = ProcStat.read(Long.parseLong(p.getFileName().toString()));
        if (f != null && f.comm().equals("yes") && f.ppid() == agent.pid()) {
          out.add(f.pid());
        }
      }
    }
    return out;
  }

  static char state(long pid) throws IOException {
    return stat(pid).state();
  }

  private static ProcStat stat(long pid) throws IOException {
    ProcStat s = ProcStat.read(pid);
    if (s == null) {
      throw new java.nio.file.NoSuchFileException("/proc/" + pid + "/stat");
    }
    return s;
  }

  /** User and system CPU time of a process, in clock ticks. */
  static long cpuTicks(long pid) throws IOException {
    ProcStat s = stat(pid);
    return s.utime() + s.stime();
  }

  /** Pings for {@link #LOAD_MS} and returns {max ping ms, max RSS KiB}. */
  static long[] probe(Host h) throws Exception {
    long maxPing = 0;
    long maxRss = 0;
    int n = 0;
    long end = System.nanoTime() + LOAD_MS * 1_000_000;
    while (System.nanoTime() < end) {
      long t0 = System.nanoTime();
      assertEquals(Host.ok("p" + n), h.call(Host.ping("p" + n)));
      maxPing = Math.max(maxPing, (System.nanoTime() - t0) / 1_000_000);
      maxRss = Math.max(maxRss, Procs.rssKib(agent.pid()));
      n++;
    }
    return new long[] {maxPing, maxRss, n};
  }

  @Test
  void writersHeldBackWhenTheHostDoesNotRead() throws Exception {
    long before = Procs.rssKib(agent.pid());
    try (Host quiet = Host.openNotReading(agent.tcp()); Host probe = Host.open(agent.unix())) {
      for (int i = 0; i < 4; i++) {
        quiet.send(Host.shell("y" + i, "yes"));
      }
      long[] p = probe(probe);
      System.out.printf("4 yes, host not reading: %d pings, max ping %d ms, RSS %d -> max %d "
          + "KiB%n", p[2], p[0], before, p[1]);
      assertTrue(p[0] < 2_000, "a ping took " + p[0] + " ms");
      assertTrue(p[1] < RSS_BOUND_KIB, "RSS " + p[1] + " KiB");
      assertTrue(p[1] - before < 200 * 1024, "RSS grew from " + before + " to " + p[1]);
      // Flow control holds the writers: each is asleep in its write, not spinning.
      List<Long> yes = yesProcesses();
      assertEquals(4, yes.size(), "yes processes " + yes);
      // Blocked means asleep and using no CPU between two looks.
      long[] last = new long[1];
      ShellEventsTest.poll(() -> {
        try {
          long cpu = 0;
          boolean asleep = true;
          for (long pid : yes) {
            asleep &= state(pid) == 'S';
            cpu += cpuTicks(pid);
          }
          boolean still = asleep && cpu == last[0];
          last[0] = cpu;
          return still;
        } catch (IOException e) {
          throw new AssertionError(e);
        }
      }, "the writers are not held back");
      // When the host reads at last, it gets the output intact: nothing was dropped.
      quiet.startReading();
      String[] sids = new String[4];
      for (int i = 0; i < 4; i++) {
        sids[i] = quiet.started("y" + i);
      }
      StringBuilder[] text = new StringBuilder[4];
      for (int i = 0; i < 4; i++) {
        text[i] = new StringBuilder();
      }
      List<String> order = List.of(sids);
      while (java.util.Arrays.stream(text).anyMatch(t -> t.length() < 256 * 1024)) {
        JsonObject f = quiet.take(x -> "output".equals(x.getString("shell_event")), HANG);
        assertEquals(null, f.getValue("dropped_bytes"), "nothing is dropped while attached");
        text[order.indexOf(f.getString("session_id"))].append(new String(
            Base64.getDecoder().decode(f.getString("output_base64")),
            java.nio.charset.StandardCharsets.US_ASCII));
      }
      for (int i = 0; i < 4; i++) {
        assertTrue(text[i].toString().matches("(y\r\n)+(y\r?)?"), "session " + i);
      }
      for (int i = 0; i < 4; i++) {
        assertEquals(129, probe.call(Host.close("c" + i, sids[i])).getInteger("exit_code"));
      }
      Procs.awaitGone(yes);
    }
  }

  @Test
  void detachedWritersDropTheirOldestOutput() throws Exception {
    long before = Procs.rssKib(agent.pid());
    String[] sids = new String[4];
    try (Host a = Host.open(agent.tcp())) {
      for (int i = 0; i < 4; i++) {
        sids[i] = a.startShell(Host.shell("d" + i, "yes"));
      }
    }
    try (Host probe = Host.open(agent.unix())) {
      long[] p = probe(probe);
      System.out.printf("4 yes, detached: %d pings, max ping %d ms, RSS %d -> max %d KiB%n",
          p[2], p[0], before, p[1]);
      assertTrue(p[0] < 2_000, "a ping took " + p[0] + " ms");
      assertTrue(p[1] < RSS_BOUND_KIB, "RSS " + p[1] + " KiB");
      assertTrue(p[1] - before < 200 * 1024, "RSS grew from " + before + " to " + p[1]);
      List<Long> yes = yesProcesses();
      assertEquals(4, yes.size());
      // The first output after attaching says how much was dropped meanwhile.
      probe.send(Host.attach("at", sids[0]));
      assertEquals(Host.ok("at").put("session_id", sids[0]), probe.next(HANG));
      JsonObject first = probe.take(f -> "output".equals(f.getString("shell_event")), HANG);
      assertEquals(sids[0], first.getString("session_id"));
      assertTrue(first.getLong("dropped_bytes", 0L) > 1024 * 1024,
          "dropped_bytes " + first.getValue("dropped_bytes"));
      for (int i = 0; i < 4; i++) {
        assertEquals(129, probe.call(Host.close("c" + i, sids[i])).getInteger("exit_code"));
      }
      Procs.awaitGone(yes);
    }
  }
}
