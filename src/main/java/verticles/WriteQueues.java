package verticles;

import java.util.HashSet;
import java.util.Set;
import protocol.FrameDecoder;

/**
 * Answers waiting to be written, over every connection, against {@code write_queue_budget_bytes}.
 * Every connection lives on the listener's context, and so does this class; the count itself is
 * shared with the handlers that hold large answers before they reach a connection (read_file
 * takes what it reads from it, and gets {@code Busy} when it cannot).
 *
 * <p>When an answer would take the total past the budget, the connection that holds the most
 * unwritten bytes among those whose queue has not moved for 5 seconds (counting the answer, if it
 * is the one writing) is closed at once, as one past its own {@code write_queue_max_bytes} would
 * be: its runs are killed and its sessions detached. That is repeated until the answer fits. If
 * every host that holds answers is reading, the answer is queued anyway (it is in memory already)
 * and read_file answers {@code Busy} until the queues drain; while the budget is spent, each
 * connection's stall check closes the largest host that does not read. An answer is never dropped
 * from a connection that stays open. Finding the largest looks at every connection, and happens
 * only at the budget.
 */
final class WriteQueues {
  /** A queue that has not moved for this long belongs to a host that is not reading. */
  static final long STALLED_NANOS = 5_000_000_000L;

  /** One connection's side: what it has queued, and how to close it. */
  interface Holder {
    /** Bytes this connection has queued and not yet written. */
    long charged();

    /** Whether its queue holds bytes and has not moved for {@code nanos}. */
    boolean stalled(long nanos);

    /** Closes the connection at once because the budget is spent; it then releases its bytes. */
    void closeOverBudget(long totalBytes);
  }

  private final FrameDecoder.Budget budget;
  private final Set<Holder> holders = new HashSet<>();

  WriteQueues(FrameDecoder.Budget budget) {
    this.budget = budget;
  }

  long budget() {
    return budget.limit();
  }

  long total() {
    return budget.used();
  }

  void add(Holder h) {
    holders.add(h);
  }

  /**
   * Makes room for {@code n} more bytes of {@code writer}, closing the largest holders as needed.
   * Returns false if {@code writer} itself is the largest: it must close itself, and nothing was
   * charged.
   */
  boolean charge(Holder writer, long n) {
    while (!budget.tryTake(n)) {
      Holder largest = largestStalled(writer, n);
      if (largest == null) {
        // Every host that holds answers is reading them: this answer, already in memory, is
        // queued too, and until the queues drain a read_file finds the budget spent (Busy).
        budget.force(n);
        return true;
      }
      if (largest == writer) {
        return false;
      }
      largest.closeOverBudget(budget.used() + n);
      holders.remove(largest);
    }
    return true;
  }

  /**
   * Called while answers wait: if the budget has refused anything since the last call, or is
   * over its limit, the largest holder whose queue does not move is closed.
   */
  void relieve() {
    if (budget.takeRefused() || budget.used() > budget.limit()) {
      Holder largest = largestStalled(null, 0);
      if (largest != null) {
        largest.closeOverBudget(budget.used());
        holders.remove(largest);
      }
    }
  }

  /** The holder with the most bytes among those not reading ({@code writer} counting n more). */
  private Holder largestStalled(Holder writer, long n) {
    Holder largest = null;
    long most = 0;
    for (Holder h : holders) {
      long held = h.charged() + (h == writer ? n : 0);
      if (held > most && h.stalled(STALLED_NANOS)) {
        largest = h;
        most = held;
      }
    }
    return largest;
  }

  /** {@code n} bytes of a connection were written (or dropped by its close). */
  void release(long n) {
    budget.give(n);
  }

  /** The connection is gone; it has released what it held. */
  void remove(Holder h) {
    holders.remove(h);
  }
}
