package process;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import sys.LibC;
import sys.Threads;

/**
 * Hands the C library's free memory back to the system once the agent has gone quiet after its
 * start or a burst.
 *
 * <p>A burst (hundreds of runs at once) allocates native memory on several threads, and when it
 * is freed the C library keeps most of it for later: a few MiB that an idle agent holds for
 * nothing (BENCHMARKS.md, "Memory after work"). The start leaves some too (on JDK 25, about
 * 5 MiB). Whoever frees memory held for a burst calls {@link #wanted}, and so does the agent once
 * it is ready. The first such call arms one timer; when it fires, the trim is done if nothing
 * was started since it was armed, and the timer is armed again otherwise. The trim
 * ({@code malloc_trim}, a few milliseconds) runs on a thread of its own, which then ends, so that
 * no event loop waits for it. Nothing is armed while no burst has ended since the last trim: an
 * idle agent does no periodic work for this.
 */
public final class MemoryTrim {
  /** How long nothing may start before the trim ({@code -Dagent.trim.quiet_ms}). */
  static final long QUIET_MS = Long.getLong("agent.trim.quiet_ms", 10_000);

  private record Installed(Loop loop, long quietMs, LongSupplier starts) {}

  /** Whether a trim is waiting for its quiet time. */
  private static final AtomicBoolean PENDING = new AtomicBoolean();
  private static volatile Installed installed;
  private static final AtomicLong TRIMS = new AtomicLong();

  private MemoryTrim() {}

  /**
   * From now on the start's or a burst's end leads to a trim once no process has been started for
   * {@link #QUIET_MS}; {@code loop} waits. With a null loop, no trim is done.
   */
  public static void install(Loop loop) {
    install(loop, QUIET_MS, Reaper::spawns);
  }

  /** As {@link #install(Loop)}, with the quiet time and the count of starts given. */
  static void install(Loop loop, long quietMs, LongSupplier starts) {
    installed = loop == null ? null : new Installed(loop, quietMs, starts);
    PENDING.set(false);
  }

  /** Memory held for a burst was freed, or the start is done: a trim once the agent is quiet. */
  public static void wanted() {
    if (PENDING.get() || !PENDING.compareAndSet(false, true)) {
      return;
    }
    Installed i = installed;
    if (i == null) {
      PENDING.set(false);
      return;
    }
    arm(i, i.starts().getAsLong());
  }

  /** Whether a trim waits for the agent to go quiet. */
  static boolean pending() {
    return PENDING.get();
  }

  /** How many trims have been done. */
  static long trims() {
    return TRIMS.get();
  }

  private static void arm(Installed i, long startsSeen) {
    i.loop().schedule(i.quietMs(), () -> {
      if (installed != i) {
        return;
      }
      long now = i.starts().getAsLong();
      if (now != startsSeen) {
        arm(i, now);
        return;
      }
      // Cleared first: a burst that ends while the trim runs arms the next one.
      PENDING.set(false);
      Threads.start("memory-trim", Threads.SMALL_STACK, MemoryTrim::trimNow);
    });
  }

  /**
   * Gives the C library's free memory back, and logs how much the agent's RSS fell; does nothing
   * on a C library without {@code malloc_trim}.
   */
  static void trimNow() {
    try {
      if (!LibC.Malloc.available()) {
        return;
      }
    } catch (LinkageError e) {
      // No native access at all: nothing to trim with.
      return;
    }
    long before = residentKib();
    long t0 = System.nanoTime();
    LibC.Malloc.malloc_trim(0);
    long us = (System.nanoTime() - t0) / 1000;
    TRIMS.incrementAndGet();
    log.Log.info("memory_trimmed", "rss_before_kib", before, "rss_after_kib", residentKib(),
        "took_us", us);
  }

  /** The agent's resident memory in KiB (VmRSS); -1 where that cannot be read. */
  static long residentKib() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.substring(6).replace("kB", "").trim());
        }
      }
    } catch (IOException | RuntimeException e) {
      // Only the log line lacks the figure.
    }
    return -1;
  }
}
