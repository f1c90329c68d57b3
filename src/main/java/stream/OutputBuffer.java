package stream;

import process.OutputSink;
import protocol.FrameDecoder;

/**
 * Bytes on their way from a process to a host, with flow control.
 *
 * <p>A producer appends what it reads. A consumer takes chunks to send and later
 * acknowledges them by absolute offset. Bytes stay here until acknowledged, so a receiver that
 * goes away loses nothing that it was not confirmed to have: {@link #detach()} rewinds to the last
 * acknowledged byte.
 *
 * <p>While a receiver is attached (or expected), a full buffer stops the producer (it reads no
 * more, see {@link #room}): the process then blocks on its pipe or terminal instead of the agent
 * buffering without limit. While detached, a full buffer drops its oldest bytes and counts them.
 * Dropping is paced: after each {@link #DROP_BURST} bytes dropped the producer pauses
 * {@link #DROP_PAUSE_MS}, so that an endless writer nobody watches costs little CPU and garbage,
 * yet the backlog still holds its newest output.
 *
 * <p>A buffer may share a {@link FrameDecoder.Budget} with others (the streamed runs do). It then
 * always has {@link #RESERVE} bytes of its own, and grows past them, up to its capacity, only as
 * far as the shared budget allows; once everything it holds is acknowledged it shrinks back and
 * returns what it took. What it cannot grow into, the producer does not read: the process blocks
 * on its pipe, and no output is lost. The reserve guarantees that every stream moves on, however
 * many others hold the budget.
 */
public final class OutputBuffer {
  static final long DROP_BURST = 64 * 1024;
  static final long DROP_PAUSE_MS = 10;
  /**
   * What {@link #room} grants a full buffer while detached: a terminal's read returns no more
   * (its line discipline's buffer is 4 KiB). It is also the most a buffer holds past its limit,
   * see {@link #keepPastTheLimit}.
   */
  public static final int DETACHED_READ = 4 * 1024;
  /** What a buffer that shares a budget always has of its own. */
  public static final int RESERVE = 8 * 1024;
  /** The first ring of a buffer that shares no budget. */
  private static final int INITIAL = 16 * 1024;
  /** Growing by less than this is not worth a copy of the ring. */
  private static final long GROW_MIN = 4 * 1024;
  /** The most {@link #room} grants at once to a buffer that shares a budget. */
  static final long GRANT_MAX = 64 * 1024;

  private final int capacity;
  /** Shared with other buffers, or null: then the ring grows freely up to the capacity. */
  private final FrameDecoder.Budget budget;
  /** Bytes of the ring taken from the budget (its size beyond the reserve). */
  private long charged;
  /**
   * What the last {@link #room} granted and {@link #append} has not yet used: the ring never
   * shrinks below it, so that what was granted always fits.
   */
  private long granted;
  private byte[] ring;
  /**
   * Absolute offsets: acked <= sent <= end, and end - acked <= capacity, but for one read that an
   * attach overtook (at most {@link #DETACHED_READ}, see {@link #keepPastTheLimit}).
   */
  private long acked;
  private long sent;
  private long end;
  private long dropped;
  private long droppedSincePause;
  private boolean blocking = true;
  private boolean finished;
  private boolean closed;
  /** The producer waiting for room, if any. */
  private OutputSink.Waker waker;

  public OutputBuffer(int capacity) {
    this(capacity, null);
  }

  /** A buffer that grows past {@link #RESERVE} only as far as {@code budget} allows. */
  public OutputBuffer(int capacity, FrameDecoder.Budget budget) {
    this.capacity = capacity;
    this.budget = budget;
    this.ring = new byte[Math.min(capacity, budget == null ? INITIAL : RESERVE)];
  }

  /** How much the buffer may hold now: its ring when it shares a budget, else its capacity. */
  private long limit() {
    return budget == null ? capacity : ring.length;
  }

  /** Grows the ring ahead of need, once it is half full, if the shared budget allows. */
  private void growFromBudget() {
    long held = end - acked;
    if (budget == null || closed || ring.length >= capacity || held * 2 < ring.length) {
      return;
    }
    // Double, or take what is left of the budget when that is less.
    long step = Math.min(Math.min(capacity, (long) ring.length * 2) - ring.length,
        budget.limit() - budget.used());
    if (step >= GROW_MIN && budget.tryTake(step)) {
      charged += step;
      grow(ring.length + (int) step);
    }
  }

  /**
   * Gives back what the ring took from the budget once nothing is held, keeping only room for
   * what the producer was granted and has not appended yet.
   */
  private void shrinkToReserve() {
    if (charged > 0 && end == acked) {
      int size = (int) Math.max(Math.min(capacity, RESERVE), granted);
      if (size < ring.length) {
        long back = ring.length - size;
        budget.give(back);
        charged -= back;
        ring = new byte[size];
      }
    }
  }

  /** Bytes this buffer holds of the shared budget (0 without one). */
  public synchronized long charged() {
    return charged;
  }

  /**
   * How many bytes {@link #append} takes now. While a receiver is attached (or expected), that is
   * the free space, and when none is left {@code waker} is called once acknowledgements make room.
   * While detached, a full buffer drops its oldest bytes, so there is always room (the free space,
   * and at least {@link #DETACHED_READ}), except for a pause after each {@link #DROP_BURST}
   * dropped. Closed, it reports room so that the producer learns from {@link #append} that it
   * should stop.
   */
  public synchronized long room(OutputSink.Waker waker) {
    if (closed) {
      return Long.MAX_VALUE;
    }
    if (blocking) {
      growFromBudget();
      long room = Math.max(0, limit() - (end - acked));
      if (budget != null) {
        room = Math.min(room, GRANT_MAX);
        granted = room;
      }
      if (room == 0) {
        this.waker = waker;
      }
      return room;
    }
    if (droppedSincePause >= DROP_BURST) {
      droppedSincePause = 0;
      // attach() and close() cut this pause short.
      this.waker = waker;
      waker.wakeAfter(DROP_PAUSE_MS);
      return 0;
    }
    // What is free, or, full, one terminal read: no more, since an attach may overtake it.
    return Math.max(DETACHED_READ, limit() - (end - acked));
  }

  /**
   * Appends bytes without waiting: in blocking mode no more than {@link #room} allows, while
   * detached dropping the oldest bytes to make room. Returns false if the buffer was closed (the
   * producer should stop).
   */
  public synchronized boolean append(byte[] b, int off, int len) {
    if (closed) {
      return false;
    }
    granted = Math.max(0, granted - len);
    while (len > 0) {
      long room = (blocking ? limit() : capacity) - (end - acked);
      if (room <= 0) {
        if (blocking) {
          keepPastTheLimit(b, off, len);
          return true;
        }
        // Detached: drop the oldest bytes to make room (down to the capacity, should an earlier
        // append have gone past it).
        long drop = Math.min(end - acked, Math.min(len, capacity) - room);
        acked += drop;
        dropped += drop;
        droppedSincePause += drop;
        sent = Math.max(sent, acked);
        room += drop;
      }
      int n = (int) Math.min(room, len);
      put(b, off, n);
      off += n;
      len -= n;
    }
    return true;
  }

  /**
   * Keeps bytes that do not fit while the buffer blocks. The producer read them under a grant made
   * while detached, and a receiver attached before it appended them: they are output nobody has
   * seen, so they stay, past the limit, rather than being lost. That is at most
   * {@link #DETACHED_READ} bytes (what a detached grant exceeds the free space by);
   * {@link #room} grants nothing more until acknowledgements bring the buffer back under its
   * limit. A ring that shares a budget is charged for what it grows.
   */
  private void keepPastTheLimit(byte[] b, int off, int len) {
    long need = end + len - acked;
    if (budget != null && need > ring.length) {
      budget.force(need - ring.length);
      charged += need - ring.length;
      grow((int) need);
    }
    put(b, off, len);
  }

  /** Tells a producer that waits for room that it may go on. */
  private void wakeProducer() {
    OutputSink.Waker w = waker;
    if (w != null) {
      waker = null;
      w.wake();
    }
  }

  private void put(byte[] b, int off, int n) {
    long need = end + n - acked;
    if (need > ring.length) {
      // Doubling up to the capacity; past it only by what must be kept (keepPastTheLimit).
      grow((int) Math.max(need, Math.min(capacity, (long) ring.length * 2)));
    }
    int pos = (int) (end % ring.length);
    int first = Math.min(n, ring.length - pos);
    System.arraycopy(b, off, ring, pos, first);
    System.arraycopy(b, off + first, ring, 0, n - first);
    end += n;
  }

  private void grow(int size) {
    int len = (int) (end - acked);
    byte[] linear = new byte[len];
    copyOut(acked, linear, 0, len);
    // Re-base so that absolute offset x lives at x % size.
    byte[] placed = new byte[size];
    int pos = (int) (acked % size);
    int first = Math.min(len, size - pos);
    System.arraycopy(linear, 0, placed, pos, first);
    System.arraycopy(linear, first, placed, 0, len - first);
    ring = placed;
  }

  private void copyOut(long from, byte[] dst, int dstOff, int len) {
    int pos = (int) (from % ring.length);
    int first = Math.min(len, ring.length - pos);
    System.arraycopy(ring, pos, dst, dstOff, first);
    System.arraycopy(ring, 0, dst, dstOff + first, len - first);
  }

  /** The producer has reached the end of its stream. */
  public synchronized void finish() {
    finished = true;
    wakeProducer();
  }

  /** Unblocks and stops the producer for good. */
  public synchronized void close() {
    closed = true;
    finished = true;
    if (charged > 0) {
      // Nothing more will be sent from here: the ring goes, and with it what it took.
      acked = end;
      sent = end;
      granted = 0;
      shrinkToReserve();
    }
    wakeProducer();
  }

  /** The next unsent bytes, at most {@code max}, or null if there are none. */
  public synchronized byte[] take(int max) {
    int n = (int) Math.min(max, end - sent);
    if (n <= 0) {
      return null;
    }
    byte[] out = new byte[n];
    copyOut(sent, out, 0, n);
    sent += n;
    return out;
  }

  /** Everything up to absolute offset {@code offset} was received. */
  public synchronized void ack(long offset) {
    if (offset > acked && offset <= sent) {
      acked = offset;
      shrinkToReserve();
      wakeProducer();
    }
  }

  /** The receiver went away: unacknowledged bytes will be sent again; a full buffer drops. */
  public synchronized void detach() {
    sent = acked;
    blocking = false;
    wakeProducer();
  }

  /** A receiver is (or is about to be) attached: a full buffer blocks the producer again. */
  public synchronized void attach() {
    sent = acked;
    blocking = true;
    wakeProducer();
  }

  /** Bytes dropped since the last call, which resets the count. */
  public synchronized long takeDropped() {
    long d = dropped;
    dropped = 0;
    return d;
  }

  public synchronized long sentOffset() {
    return sent;
  }

  public synchronized long unsent() {
    return end - sent;
  }

  public synchronized long inFlight() {
    return sent - acked;
  }

  /** The producer is done and every byte was acknowledged. */
  public synchronized boolean acknowledged() {
    return finished && acked == end;
  }

  public synchronized boolean isFinished() {
    return finished;
  }
}
