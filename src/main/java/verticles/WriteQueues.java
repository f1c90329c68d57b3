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
 * unwritten bytes (counting the answer, if it is the one writing) is closed at once, as one past
 * its own {@code write_queue_max_bytes} would be: its runs are killed and its sessions detached.
 * That is repeated until the answer fits. A host that reads what it asked for holds little, so the
 * one that goes is the one that stopped reading; an answer is never dropped from a connection that
 * stays open. Finding the largest looks at every connection, and happens only at the budget.
 */
final class WriteQueues {
  /** One connection's side: what it has queued, and how to close it. */
  interface Holder {
    /** Bytes this connection has queued and not yet written. */
    long charged();

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
      Holder largest = writer;
      long most = writer.charged() + n;
      for (Holder h : holders) {
        if (h != writer && h.charged() > most) {
          largest = h;
          most = h.charged();
        }
      }
      if (largest == writer) {
        return false;
      }
      long held = largest.charged();
      largest.closeOverBudget(budget.used() + n);
      holders.remove(largest);
      if (held == 0) {
        // Nobody holds anything here: the budget is spent by answers not yet framed.
        return false;
      }
    }
    return true;
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
