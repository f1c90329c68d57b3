package process;

import java.util.concurrent.atomic.AtomicLong;

/**
 * How many bytes of run output the agent may hold in memory at once, across every run that is
 * not streamed. Output that finds the budget spent is read and dropped like output past a run's
 * own cap, and the answer says it was truncated: a burst of chatty commands cannot exhaust the
 * agent's heap.
 *
 * <p>An eighth of the budget is kept for the first {@link #FLOOR} bytes of each stream. A run that
 * floods and keeps running holds at most the other seven eighths plus its own floors, so the runs
 * answered meanwhile still get the start of their output instead of nothing.
 */
public final class OutputBudget {
  /** How much of each stream the reserve is kept for. */
  static final long FLOOR = 32 * 1024;

  /** What any stream may take. */
  private final AtomicLong shared;
  /** What only the first {@link #floor} bytes of a stream may take, before the shared part. */
  private final AtomicLong reserve;
  private final long floor;

  public OutputBudget(long bytes) {
    this(bytes, bytes / 8, FLOOR);
  }

  /**
   * A budget of {@code bytes}, of which {@code reserve} only for each stream's first
   * {@code floor} bytes.
   */
  OutputBudget(long bytes, long reserve, long floor) {
    this.shared = new AtomicLong(bytes - reserve);
    this.reserve = new AtomicLong(reserve);
    this.floor = floor;
  }

  /**
   * Takes up to {@code want} more bytes for a stream that holds {@code held} already, as a prefix:
   * the part within the stream's floor first (from the reserve, then the shared part), and the
   * part past it only when all of the first was granted. Records in {@code account} how much came
   * from the reserve; returns how many bytes were granted in all.
   */
  long take(long held, long want, Account account) {
    long within = Math.min(want, Math.max(0, floor - held));
    long fromReserve = take(reserve, within);
    account.reserved += fromReserve;
    long got = fromReserve + take(shared, within - fromReserve);
    if (got == within) {
      got += take(shared, want - within);
    }
    return got;
  }

  /** Gives back what {@code account} holds, {@code bytes} in all. */
  void give(long bytes, Account account) {
    long r = Math.min(bytes, account.reserved);
    account.reserved -= r;
    reserve.addAndGet(r);
    shared.addAndGet(bytes - r);
  }

  /** Bytes not taken, reserve included. */
  long left() {
    return shared.get() + reserve.get();
  }

  private static long take(AtomicLong from, long want) {
    if (want <= 0) {
      return 0;
    }
    while (true) {
      long l = from.get();
      long n = Math.min(want, l);
      if (n <= 0 || from.compareAndSet(l, l - n)) {
        return Math.max(0, n);
      }
    }
  }

  /** One stream's part of the reserve, so that what it gives back goes where it came from. */
  static final class Account {
    private long reserved;
  }
}
