package process;

import java.io.ByteArrayOutputStream;

/** Keeps the first {@code cap} bytes of a stream; the rest is read and dropped. */
public final class Capture implements OutputSink {
  private final long cap;
  private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  private boolean truncated;

  public Capture(long cap) {
    this.cap = cap;
  }

  @Override
  public synchronized boolean write(byte[] b, int off, int len) {
    long room = cap - bytes.size();
    if (len > room) {
      truncated = true;
    }
    int n = (int) Math.max(0, Math.min(room, len));
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
}
