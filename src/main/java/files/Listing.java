package files;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.function.LongPredicate;
import protocol.Errors;
import protocol.JsonValue;
import protocol.ResponseWriter;

/**
 * The entries of a {@code list_dir} answer, held as packed bytes until the answer is written: a
 * directory may hold hundreds of thousands of entries, and one object per entry (its name, its
 * stat, a map when written) would take about twice the bytes of the answer itself. Here an entry
 * takes its name's bytes and 27 more, plus 8 for its place in the order, which is less than it
 * takes in the answer.
 *
 * <p>What it holds is asked of {@code reserve} before it is taken, chunk by chunk; when that says
 * no, the listing fails with {@code Busy}. The caller gives back {@link #reserved()} once the
 * answer has been written or has failed.
 */
final class Listing implements JsonValue {
  /** Entries are packed into chunks of this many bytes; an entry never spans two. */
  static final int CHUNK = 64 * 1024;
  /** {"name":"","type":"","size":,"mode":,"mtime_ms":} without its values. */
  private static final int OBJECT_FRAME = 49;
  private static final String[] TYPES = {"file", "dir", "symlink", "other"};

  private final LongPredicate reserve;
  private final long maxJson;
  private byte[][] chunks = new byte[4][];
  private int chunkCount;
  private int used = CHUNK;
  /** Where each entry starts: chunk index x CHUNK + offset. */
  private int[] starts = new int[0];
  private int count;
  private long json = 2;
  private long reserved;

  /**
   * @param maxJson the most bytes the entries may take in the answer, past which adding one
   *     fails with "Too many entries"
   */
  Listing(LongPredicate reserve, long maxJson) {
    this.reserve = reserve;
    this.maxJson = maxJson;
  }

  /** Bytes taken from {@code reserve} so far. */
  long reserved() {
    return reserved;
  }

  int size() {
    return count;
  }

  /**
   * Adds one entry.
   *
   * @param cname its name as the directory gives it, with a NUL at the end
   */
  void add(byte[] cname, FileCalls.Stat s) {
    int nameLength = cname.length - 1;
    int type = typeCode(s);
    long length = OBJECT_FRAME + ResponseWriter.escapedLength(text(cname, 0, nameLength))
        + TYPES[type].length() + digits(s.size()) + digits(s.mode() & 07777)
        + digits(s.mtimeMs()) + (count > 0 ? 1 : 0);
    if (json + length > maxJson) {
      throw Errors.failed(Errors.LIST_FAILED, "Too many entries for one response: more than "
          + count + " (max " + protocol.Frames.MAX_FRAME + " bytes)");
    }
    int entry = 2 + nameLength + 1 + 3 * 8;
    if (used + entry > CHUNK) {
      newChunk();
    }
    if (count == starts.length) {
      int grown = Math.max(1024, count * 2);
      take(4L * (grown - count));
      starts = Arrays.copyOf(starts, grown);
    }
    starts[count++] = (chunkCount - 1) * CHUNK + used;
    byte[] c = chunks[chunkCount - 1];
    c[used++] = (byte) (nameLength >>> 8);
    c[used++] = (byte) nameLength;
    System.arraycopy(cname, 0, c, used, nameLength);
    used += nameLength;
    c[used++] = (byte) type;
    used = putLong(c, used, s.size());
    used = putLong(c, used, s.mode() & 07777);
    used = putLong(c, used, s.mtimeMs());
    json += length;
  }

  private void newChunk() {
    take(CHUNK);
    if (chunkCount == chunks.length) {
      chunks = Arrays.copyOf(chunks, chunkCount * 2);
    }
    chunks[chunkCount++] = new byte[CHUNK];
    used = 0;
  }

  private void take(long n) {
    if (!reserve.test(n)) {
      throw Errors.busy("memory for answers on their way to hosts (over all connections)");
    }
    reserved += n;
  }

  /** Puts the entries in the order of their names' bytes (a stable merge sort of the starts). */
  void sort() {
    if (count < 2) {
      return;
    }
    take(4L * count);
    int[] a = starts;
    int[] b = new int[count];
    for (int width = 1; width < count; width *= 2) {
      for (int lo = 0; lo < count; lo += 2 * width) {
        int mid = Math.min(lo + width, count);
        int hi = Math.min(lo + 2 * width, count);
        int i = lo;
        int j = mid;
        int k = lo;
        while (i < mid && j < hi) {
          b[k++] = compareNames(a[j], a[i]) < 0 ? a[j++] : a[i++];
        }
        while (i < mid) {
          b[k++] = a[i++];
        }
        while (j < hi) {
          b[k++] = a[j++];
        }
      }
      int[] t = a;
      a = b;
      b = t;
    }
    starts = a;
  }

  private int compareNames(int x, int y) {
    byte[] cx = chunks[x / CHUNK];
    byte[] cy = chunks[y / CHUNK];
    int px = x % CHUNK;
    int py = y % CHUNK;
    int lx = nameLength(cx, px);
    int ly = nameLength(cy, py);
    return Arrays.compareUnsigned(cx, px + 2, px + 2 + lx, cy, py + 2, py + 2 + ly);
  }

  @Override
  public long jsonLength() {
    return json;
  }

  @Override
  public void writeJson(JsonGenerator g) throws IOException {
    g.writeStartArray();
    for (int i = 0; i < count; i++) {
      byte[] c = chunks[starts[i] / CHUNK];
      int p = starts[i] % CHUNK;
      int nameLength = nameLength(c, p);
      p += 2;
      g.writeStartObject();
      g.writeStringField("name", text(c, p, nameLength));
      p += nameLength;
      g.writeStringField("type", TYPES[c[p++]]);
      g.writeNumberField("size", getLong(c, p));
      g.writeNumberField("mode", (int) getLong(c, p + 8));
      g.writeNumberField("mtime_ms", getLong(c, p + 16));
      g.writeEndObject();
    }
    g.writeEndArray();
  }

  private static int nameLength(byte[] c, int p) {
    return (c[p] & 0xff) << 8 | (c[p + 1] & 0xff);
  }

  private static String text(byte[] b, int from, int length) {
    return new String(b, from, length, StandardCharsets.UTF_8);
  }

  /** The {@code type} of a stat or an entry. */
  static String typeName(FileCalls.Stat s) {
    return TYPES[typeCode(s)];
  }

  private static int typeCode(FileCalls.Stat s) {
    return switch (s.type()) {
      case sys.LibC.S_IFREG -> 0;
      case sys.LibC.S_IFDIR -> 1;
      case sys.LibC.S_IFLNK -> 2;
      default -> 3;
    };
  }

  private static int digits(long v) {
    return Long.toString(v).length();
  }

  private static int putLong(byte[] b, int p, long v) {
    for (int i = 7; i >= 0; i--) {
      b[p++] = (byte) (v >>> (8 * i));
    }
    return p;
  }

  private static long getLong(byte[] b, int p) {
    long v = 0;
    for (int i = 0; i < 8; i++) {
      v = v << 8 | (b[p + i] & 0xff);
    }
    return v;
  }
}
