package protocol;

/** Constants and helpers of the frame format: a 4-byte little-endian length, then a JSON body. */
public final class Frames {
  /** The largest body either side accepts: 10 MiB. */
  public static final int MAX_FRAME = 10 * 1024 * 1024;

  public static final int HEADER = 4;

  private Frames() {}

  static long readLength(byte[] b, int off) {
    return (b[off] & 0xFFL)
        | (b[off + 1] & 0xFFL) << 8
        | (b[off + 2] & 0xFFL) << 16
        | (b[off + 3] & 0xFFL) << 24;
  }

  public static void writeLength(byte[] b, int off, int length) {
    b[off] = (byte) length;
    b[off + 1] = (byte) (length >>> 8);
    b[off + 2] = (byte) (length >>> 16);
    b[off + 3] = (byte) (length >>> 24);
  }

  /** A whole frame for the given body. */
  public static byte[] frame(byte[] body) {
    byte[] out = new byte[HEADER + body.length];
    writeLength(out, 0, body.length);
    System.arraycopy(body, 0, out, HEADER, body.length);
    return out;
  }
}
