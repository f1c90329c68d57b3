package protocol;

/**
 * Splits a byte stream into frames: a 4-byte little-endian length, then that many bytes of body.
 *
 * <p>Bytes can be fed in chunks of any size. A length over {@link Frames#MAX_FRAME} is reported
 * once through {@link Sink#oversized(long)} and the decoder then ignores everything after it: the
 * body of an oversized frame is never read as further frames.
 */
public final class FrameDecoder {

  /** Receives what the decoder finds. */
  public interface Sink {
    void frame(byte[] body);

    void oversized(long length);
  }

  private final Sink sink;
  private final long maxFrame;
  private final byte[] header = new byte[4];
  private int headerFill;
  private byte[] body;
  private int bodyFill;
  private boolean dead;

  public FrameDecoder(Sink sink) {
    this(sink, Frames.MAX_FRAME);
  }

  public FrameDecoder(Sink sink, long maxFrame) {
    this.sink = sink;
    this.maxFrame = maxFrame;
  }

  /** True once an oversized length was seen; no further frames will be produced. */
  public boolean isDead() {
    return dead;
  }

  /** True when the stream stopped in the middle of a frame (a header or body is incomplete). */
  public boolean isMidFrame() {
    return headerFill > 0 || body != null;
  }

  public void feed(byte[] data) {
    feed(data, 0, data.length);
  }

  public void feed(byte[] data, int offset, int length) {
    int pos = offset;
    int end = offset + length;
    while (pos < end && !dead) {
      if (body == null) {
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
          body = new byte[(int) len];
          bodyFill = 0;
        }
      }
      if (body != null) {
        int n = Math.min(body.length - bodyFill, end - pos);
        System.arraycopy(data, pos, body, bodyFill, n);
        bodyFill += n;
        pos += n;
        if (bodyFill == body.length) {
          byte[] done = body;
          body = null;
          sink.frame(done);
        }
      }
    }
  }
}
