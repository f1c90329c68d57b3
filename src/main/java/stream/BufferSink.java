package stream;

import process.OutputSink;

/**
 * Feeds a process stream into an {@link OutputBuffer} and wakes its pump, up to a cap. Called by
 * the process engine on one thread at a time.
 */
public final class BufferSink implements OutputSink {
  private final OutputBuffer buffer;
  private final StreamPump pump;
  private final long cap;
  private long written;
  private volatile boolean truncated;

  public BufferSink(OutputBuffer buffer, StreamPump pump, long cap) {
    this.buffer = buffer;
    this.pump = pump;
    this.cap = cap;
  }

  @Override
  public long room(Waker waker) {
    // Past the cap everything is dropped, so there is always room for it.
    return written >= cap ? Long.MAX_VALUE : buffer.room(waker);
  }

  @Override
  public boolean write(byte[] b, int off, int len) {
    long room = cap - written;
    if (len > room) {
      truncated = true;
      len = (int) Math.max(0, room);
    }
    written += len;
    boolean open = len == 0 || buffer.append(b, off, len);
    pump.wake();
    return open;
  }

  @Override
  public void finish() {
    buffer.finish();
    pump.wake();
  }

  public boolean truncated() {
    return truncated;
  }
}
