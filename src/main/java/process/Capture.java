package process;

import java.io.ByteArrayOutputStream;

/**
 * Keeps the first {@code cap} bytes of a stream, as far as the shared {@link OutputBudget} allows;
 * the rest is read and dropped. {@link #release()} gives the memory back once the answer is framed.
 */
public final class Capture implements OutputSink {
  private final long cap;
  private final OutputBudget budget;
  private ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  private boolean truncated;
  private boolean released;
  /** What {@link #drop()} kept counted against the budget until {@link #release()}. */
  private long held;
  private final OutputBudget.Account account = new OutputBudget.Account();

  public Capture(long cap, OutputBudget budget) {
    this.cap = cap;
    this.budget = budget;
  }

  @Override
  public long room(Waker waker) {
    // Never full: what does not fit is counted as truncated and dropped.
    return Long.MAX_VALUE;
  }

  @Override
  public synchronized boolean write(byte[] b, int off, int len) {
    if (released) {
      // The answer is gone; a background child may still write: drain it.
      return true;
    }
    long room = Math.max(0, cap - bytes.size());
    int n = (int) budget.take(bytes.size(), Math.min(room, len), account);
    if (n < len) {
      truncated = true;
    }
    bytes.write(b, off, n);
    return true;
  }

  @Override
  public void finish() {}

  public synchronized byte[] bytes() {
    return bytes.toByteArray();
  }

  public synchronized boolean truncated() {
    return truncated;
  }

  /**
   * Lets go of the held bytes once the answer is built from them, but keeps them counted against
   * the budget: the answer, which takes up to 2 bytes a byte as text, is in memory until the
   * connection has made it a frame, and {@link #release()} comes then. Later output is dropped.
   */
  public synchronized void drop() {
    if (!released) {
      released = true;
      held = bytes.size();
      bytes = new ByteArrayOutputStream(0);
    }
  }

  /** Gives the held bytes back to the budget; later output is dropped. Idempotent. */
  public synchronized void release() {
    drop();
    budget.give(held, account);
    held = 0;
  }

  /** Bytes counted against the budget and not yet given back. */
  public synchronized long held() {
    return released ? held : bytes.size();
  }
}
