package process;

import java.util.concurrent.atomic.AtomicLong;

/**
 * How many bytes of run output the agent may hold in memory at once, across every run that is
 * not streamed. Output that finds the budget spent is read and dropped like output past a run's
 * own cap, and the answer says it was truncated: a burst of chatty commands cannot exhaust the
 * agent's heap.
 */
public final class OutputBudget {
  private final AtomicLong left;

  public OutputBudget(long bytes) {
    this.left = new AtomicLong(bytes);
  }

  /** Takes up to {@code want} bytes; returns how many were granted. */
  long take(long want) {
    while (true) {
      long l = left.get();
      long n = Math.min(want, l);
      if (n <= 0 || left.compareAndSet(l, l - n)) {
        return Math.max(0, n);
      }
    }
  }

  void give(long n) {
    left.addAndGet(n);
  }
}
