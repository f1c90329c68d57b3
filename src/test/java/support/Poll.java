package support;

import java.util.function.BooleanSupplier;

/**
 * Waits for a state that nothing announces (a process gone from /proc, a log line, a metric):
 * checks, then checks again a moment later. The bound only catches hangs; where an event can be
 * awaited (a frame, a process exit), tests await it instead.
 */
public final class Poll {
  private static final long INTERVAL_MS = 10;

  private Poll() {}

  /** Returns once {@code condition} holds; fails with {@code what} after {@code boundMs}. */
  public static void until(String what, long boundMs, BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + boundMs * 1_000_000;
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not within " + boundMs + " ms: " + what);
      }
      Thread.sleep(INTERVAL_MS);
    }
  }
}
