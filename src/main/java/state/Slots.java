package state;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Places for at most {@code max} things at once (connections, runs, sessions). Whoever starts
 * one takes a {@link Slot} and keeps it with what it started; giving it back is the slot's own
 * business and happens once, however many paths end the thing.
 */
public final class Slots {
  private final int max;
  private final AtomicInteger used = new AtomicInteger();

  public Slots(int max) {
    this.max = max;
  }

  public int max() {
    return max;
  }

  /** How many slots are taken now. */
  public int inUse() {
    return used.get();
  }

  /** A slot, or null when all are taken. */
  public Slot take() {
    while (true) {
      int n = used.get();
      if (n >= max) {
        return null;
      }
      if (used.compareAndSet(n, n + 1)) {
        return new Slot();
      }
    }
  }

  /** One taken place. */
  public final class Slot {
    private final AtomicBoolean given = new AtomicBoolean();

    private Slot() {}

    /** Gives the place back; later calls do nothing. */
    public void give() {
      if (given.compareAndSet(false, true)) {
        used.decrementAndGet();
      }
    }
  }
}
