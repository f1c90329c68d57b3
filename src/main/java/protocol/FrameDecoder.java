package protocol;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Splits a byte stream into frames: a 4-byte little-endian length, then that many bytes of body.
 *
 * <p>Bytes can be fed in chunks of any size. A length over {@link Frames#MAX_FRAME} is reported
 * once through {@link Sink#oversized(long)} and the decoder then ignores everything after it: the
 * body of an oversized frame is never read as further frames.
 *
 * <p>The memory held for an incomplete frame follows the bytes that have arrived, never the length
 * the header announces: the body buffer starts small and at most doubles as bytes come. Every
 * byte held is taken from a {@link Budget} shared by all connections; when the budget cannot
 * cover the next growth, {@link Sink#overBudget(long)} is called once and the decoder stops, as
 * for an oversized frame.
 */
public final class FrameDecoder {
  /** The first buffer for a body, or the whole body when it is smaller. */
  static final int INITIAL_BODY = 16 * 1024;

  /** Receives what the decoder finds. */
  public interface Sink {
    void frame(byte[] body);

    void oversized(long length);

    /** The shared budget cannot hold more of the frame announced with {@code length}. */
    default void overBudget(long length) {
      oversized(length);
    }
  }

  /**
   * Bytes held over everything that shares it: incomplete frames over all decoders, and the same
   * kind of count elsewhere (requests being served, answers queued, streamed output). Thread-safe.
   */
  public static final class Budget {
    private final long limit;
    private final AtomicLong used = new AtomicLong();
    private final java.util.concurrent.atomic.AtomicBoolean refused =
        new java.util.concurrent.atomic.AtomicBoolean();

    public Budget(long limit) {
      this.limit = limit;
    }

    /** Takes {@code n} bytes if they fit under the limit. */
    public boolean tryTake(long n) {
      while (true) {
        long u = used.get();
        if (u + n > limit) {
          refused.set(true);
          return false;
        }
        if (used.compareAndSet(u, u + n)) {
          return true;
        }
      }
    }

    /** Takes {@code n} bytes even past the limit: for memory that is already held. */
    public void force(long n) {
      used.addAndGet(n);
    }

    /** Whether a take was refused since the last call. */
    public boolean takeRefused() {
      return refused.getAndSet(false);
    }

    public void give(long n) {
      used.addAndGet(-n);
    }

    public long used() {
      return used.get();
    }

    public long limit() {
      return limit;
    }

    /** A budget that never refuses: for tests and tools that decode one trusted stream. */
    public static Budget unlimited() {
      return new Budget(Long.MAX_VALUE / 2);
    }
  }

  private final Sink sink;
  private final long maxFrame;
  private final Budget budget;
  private final byte[] header = new byte[4];
  private int headerFill;
  /** The announced body length of the frame being read, or -1 between frames. */
  private int bodyLength = -1;
  private byte[] body;
  private int bodyFill;
  private boolean dead;

  public FrameDecoder(Sink sink) {
    this(sink, Frames.MAX_FRAME, Budget.unlimited());
  }

  public FrameDecoder(Sink sink, long maxFrame) {
    this(sink, maxFrame, Budget.unlimited());
  }

  public FrameDecoder(Sink sink, long maxFrame, Budget budget) {
    this.sink = sink;
    this.maxFrame = maxFrame;
    this.budget = budget;
  }

  /** True once an oversized length was seen; no further frames will be produced. */
  public boolean isDead() {
    return dead;
  }

  /** True when the stream stopped in the middle of a frame (a header or body is incomplete). */
  public boolean isMidFrame() {
    return headerFill > 0 || bodyLength >= 0;
  }

  /** Bytes this decoder holds for its incomplete frame (what it took from the budget). */
  public int heldBytes() {
    return body == null ? 0 : body.length;
  }

  /** Gives back what the incomplete frame holds; the decoder produces nothing more. */
  public void release() {
    dead = true;
    drop();
  }

  private void drop() {
    if (body != null) {
      budget.give(body.length);
      body = null;
    }
    bodyLength = -1;
    bodyFill = 0;
  }

  public void feed(byte[] data) {
    feed(data, 0, data.length);
  }

  public void feed(byte[] data, int offset, int length) {
    int pos = offset;
    int end = offset + length;
    while (pos < end && !dead) {
      if (bodyLength < 0) {
        int n = Math.min(4 - headerFill, end - pos);
        System.arraycopy(data, pos, header, headerFill, n);
        headerFill += n;
        pos += n;
        if (headerFill == 4) {
          headerFill = 0;
          long len = Frames.readLength(header, 0);
          if (len > maxFrame) {
            dead = true;
            sink.oversized(len);
            return;
          }
          bodyLength = (int) len;
          bodyFill = 0;
        }
      }
      if (bodyLength >= 0) {
        int n = Math.min(bodyLength - bodyFill, end - pos);
        if (!ensureRoom(bodyFill + n)) {
          long len = bodyLength;
          release();
          sink.overBudget(len);
          return;
        }
        if (n > 0) {
          System.arraycopy(data, pos, body, bodyFill, n);
        }
        bodyFill += n;
        pos += n;
        if (bodyFill == bodyLength) {
          byte[] done = body.length == bodyLength ? body : java.util.Arrays.copyOf(body, bodyLength);
          // The body is handed over: from here on the request that carries it owns the memory.
          budget.give(body.length);
          body = null;
          bodyLength = -1;
          bodyFill = 0;
          sink.frame(done);
        }
      }
    }
  }

  /** Grows the body buffer to hold at least {@code need} bytes, at most doubling each time. */
  private boolean ensureRoom(int need) {
    int have = body == null ? 0 : body.length;
    if (body != null && need <= have) {
      return true;
    }
    int size = Math.max(need, Math.min(bodyLength, Math.max(INITIAL_BODY, have * 2)));
    size = Math.min(size, bodyLength);
    if (!budget.tryTake(size - have)) {
      return false;
    }
    body = body == null ? new byte[size] : java.util.Arrays.copyOf(body, size);
    return true;
  }
}
