package protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The frame codec fed the same bytes in every possible way: every chunk size from 1 to twice the
 * input, random splits, every truncation point, and oversized lengths.
 */
class FrameDecoderTest {

  /** Records what the decoder reports, in order. */
  private static final class Recorder implements FrameDecoder.Sink {
    final List<byte[]> frames = new ArrayList<>();
    final List<Long> oversized = new ArrayList<>();

    @Override
    public void frame(byte[] body) {
      frames.add(body);
    }

    @Override
    public void oversized(long length) {
      oversized.add(length);
    }
  }

  /** Several frames: an empty body, one byte, JSON with multi-byte UTF-8, and a long one. */
  private static final List<byte[]> BODIES = List.of(
      new byte[0],
      new byte[] {'x'},
      "{\"id\":\"é→😀\",\"type\":\"ping\"}".getBytes(StandardCharsets.UTF_8),
      longBody(1000),
      "{}".getBytes(StandardCharsets.UTF_8));

  private static byte[] longBody(int n) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      // Includes bytes that look like small little-endian lengths, and 0xFF.
      b[i] = (byte) (i * 31 + 7);
    }
    return b;
  }

  private static byte[] concat(List<byte[]> parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  private static byte[] framed(List<byte[]> bodies) {
    List<byte[]> frames = new ArrayList<>();
    for (byte[] b : bodies) {
      frames.add(Frames.frame(b));
    }
    return concat(frames);
  }

  private static byte[] header(long length) {
    byte[] h = new byte[4];
    Frames.writeLength(h, 0, (int) length);
    return h;
  }

  private static void assertFrames(List<byte[]> expected, List<byte[]> actual, String how) {
    assertEquals(expected.size(), actual.size(), "frame count " + how);
    for (int i = 0; i < expected.size(); i++) {
      assertArrayEquals(expected.get(i), actual.get(i), "frame " + i + " " + how);
    }
  }

  /** Feeds {@code input} cut at the given (sorted, distinct, inside) offsets. */
  private static void feedSplit(FrameDecoder d, byte[] input, TreeSet<Integer> cuts) {
    int start = 0;
    for (int cut : cuts) {
      d.feed(input, start, cut - start);
      start = cut;
    }
    d.feed(input, start, input.length - start);
  }

  @Test
  void sameFramesAtEveryChunkSize() {
    byte[] input = framed(BODIES);
    for (int chunk = 1; chunk <= 2 * input.length; chunk++) {
      Recorder r = new Recorder();
      FrameDecoder d = new FrameDecoder(r);
      for (int off = 0; off < input.length; off += chunk) {
        // Copies, so that the decoder cannot rely on the offset being 0 or on the array's size.
        byte[] piece = Arrays.copyOfRange(input, off, Math.min(input.length, off + chunk));
        d.feed(piece);
      }
      assertFrames(BODIES, r.frames, "at chunk size " + chunk);
      assertTrue(r.oversized.isEmpty());
      assertFalse(d.isMidFrame(), "mid-frame after whole input at chunk size " + chunk);
      assertFalse(d.isDead());
    }
  }

  @Test
  void sameFramesWithOffsetIntoALargerArray() {
    byte[] input = framed(BODIES);
    byte[] padded = new byte[input.length + 20];
    Arrays.fill(padded, (byte) 0x7F);
    System.arraycopy(input, 0, padded, 10, input.length);
    for (int chunk = 1; chunk <= input.length; chunk += 7) {
      Recorder r = new Recorder();
      FrameDecoder d = new FrameDecoder(r);
      for (int off = 0; off < input.length; off += chunk) {
        d.feed(padded, 10 + off, Math.min(chunk, input.length - off));
      }
      assertFrames(BODIES, r.frames, "from offset 10 at chunk size " + chunk);
    }
  }

  @Test
  void sameFramesWithShuffledSplits() {
    byte[] input = framed(BODIES);
    Random random = new Random(20240601);
    for (int round = 0; round < 500; round++) {
      int n = 1 + random.nextInt(Math.min(60, input.length - 1));
      TreeSet<Integer> cuts = new TreeSet<>();
      while (cuts.size() < n) {
        cuts.add(1 + random.nextInt(input.length - 1));
      }
      Recorder r = new Recorder();
      FrameDecoder d = new FrameDecoder(r);
      feedSplit(d, input, cuts);
      assertFrames(BODIES, r.frames, "with cuts " + cuts);
      assertFalse(d.isMidFrame());
    }
  }

  @Test
  void emptyFeedsChangeNothing() {
    Recorder r = new Recorder();
    FrameDecoder d = new FrameDecoder(r);
    d.feed(new byte[0]);
    assertFalse(d.isMidFrame());
    byte[] input = framed(BODIES);
    for (byte b : input) {
      d.feed(new byte[] {b});
      d.feed(input, 0, 0);
    }
    assertFrames(BODIES, r.frames, "with empty feeds between bytes");
  }

  @Test
  void truncatedInputIsMidFrameExceptAtFrameBoundaries() {
    byte[] input = framed(BODIES);
    List<Integer> boundaries = new ArrayList<>();
    int pos = 0;
    boundaries.add(0);
    for (byte[] b : BODIES) {
      pos += Frames.HEADER + b.length;
      boundaries.add(pos);
    }
    for (int cut = 0; cut <= input.length; cut++) {
      Recorder r = new Recorder();
      FrameDecoder d = new FrameDecoder(r);
      d.feed(Arrays.copyOf(input, cut));
      int complete = 0;
      while (complete < boundaries.size() - 1 && boundaries.get(complete + 1) <= cut) {
        complete++;
      }
      assertFrames(BODIES.subList(0, complete), r.frames, "truncated at " + cut);
      assertEquals(!boundaries.contains(cut), d.isMidFrame(), "isMidFrame truncated at " + cut);
      // The rest arrives later: everything is decoded after all.
      d.feed(input, cut, input.length - cut);
      assertFrames(BODIES, r.frames, "completed after truncation at " + cut);
      assertFalse(d.isMidFrame());
    }
  }

  @Test
  void headerAloneIsMidFrame() {
    Recorder r = new Recorder();
    FrameDecoder d = new FrameDecoder(r);
    d.feed(header(5));
    assertTrue(d.isMidFrame(), "a header promising a body is mid-frame");
    d.feed(new byte[] {1, 2});
    assertTrue(d.isMidFrame());
    d.feed(new byte[] {3, 4, 5});
    assertFalse(d.isMidFrame());
    assertFrames(List.of(new byte[] {1, 2, 3, 4, 5}), r.frames, "");
  }

  @Test
  void oversizedLengthReportedOnceAndNothingAfterItAtEveryChunkSize() {
    byte[] first = "{\"id\":\"a\"}".getBytes(StandardCharsets.UTF_8);
    // After the bad header come bytes that are themselves well-formed frames: they must not be
    // decoded, because they are the body of the refused frame.
    byte[] input = concat(List.of(Frames.frame(first), header(Frames.MAX_FRAME + 1L),
        framed(BODIES), framed(BODIES)));
    for (int chunk = 1; chunk <= 2 * input.length; chunk++) {
      Recorder r = new Recorder();
      FrameDecoder d = new FrameDecoder(r);
      for (int off = 0; off < input.length; off += chunk) {
        d.feed(input, off, Math.min(chunk, input.length - off));
      }
      assertFrames(List.of(first), r.frames, "before the oversized frame, chunk " + chunk);
      assertEquals(List.of(Frames.MAX_FRAME + 1L), r.oversized, "chunk " + chunk);
      assertTrue(d.isDead());
      // More input later is ignored too, and the length is not reported again.
      d.feed(framed(BODIES));
      assertEquals(1, r.frames.size());
      assertEquals(1, r.oversized.size());
    }
  }

  @Test
  void lengthIsUnsignedLittleEndian() {
    Recorder r = new Recorder();
    FrameDecoder d = new FrameDecoder(r);
    d.feed(new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF});
    assertEquals(List.of(4294967295L), r.oversized, "0xFFFFFFFF is 4 GiB - 1, not -1");
    assertTrue(r.frames.isEmpty());

    Recorder r2 = new Recorder();
    FrameDecoder d2 = new FrameDecoder(r2);
    // 0x00A00001 little-endian = 10 MiB + 1: only the high bytes make it too large.
    d2.feed(new byte[] {0x01, 0x00, (byte) 0xA0, 0x00});
    assertEquals(List.of(10L * 1024 * 1024 + 1), r2.oversized);

    Recorder r3 = new Recorder();
    FrameDecoder d3 = new FrameDecoder(r3);
    d3.feed(new byte[] {0x02, 0x01, 0, 0, 'a', 'b'});
    assertTrue(r3.oversized.isEmpty());
    assertTrue(d3.isMidFrame(), "0x0102 = 258 bytes expected, 2 received");
  }

  @Test
  void limitIsInclusiveAtEveryChunkSize() {
    // A small limit makes the boundary cheap to check at every chunk size.
    int max = 37;
    byte[] atLimit = longBody(max);
    byte[] input = concat(List.of(Frames.frame(atLimit), Frames.frame(new byte[0]),
        header(max + 1), Frames.frame(atLimit)));
    for (int chunk = 1; chunk <= 2 * input.length; chunk++) {
      Recorder r = new Recorder();
      FrameDecoder d = new FrameDecoder(r, max);
      for (int off = 0; off < input.length; off += chunk) {
        d.feed(input, off, Math.min(chunk, input.length - off));
      }
      assertFrames(List.of(atLimit, new byte[0]), r.frames, "chunk " + chunk);
      assertEquals(List.of((long) max + 1), r.oversized, "chunk " + chunk);
    }
  }

  @Test
  void exactlyTenMebibyteFrameIsAccepted() {
    assertEquals(10 * 1024 * 1024, Frames.MAX_FRAME);
    byte[] body = new byte[Frames.MAX_FRAME];
    body[0] = '{';
    body[body.length - 1] = '}';
    Recorder r = new Recorder();
    FrameDecoder d = new FrameDecoder(r);
    d.feed(header(Frames.MAX_FRAME));
    // In pieces the size of a socket read.
    for (int off = 0; off < body.length; off += 65536) {
      d.feed(body, off, Math.min(65536, body.length - off));
    }
    assertTrue(r.oversized.isEmpty());
    assertEquals(1, r.frames.size());
    assertArrayEquals(body, r.frames.get(0));
    assertFalse(d.isDead());
    assertFalse(d.isMidFrame());
    // And the connection goes on.
    d.feed(Frames.frame(new byte[] {'z'}));
    assertEquals(2, r.frames.size());
  }

  @Test
  void frameHelperWritesLittleEndianLength() {
    byte[] f = Frames.frame(new byte[0x0102]);
    assertEquals(4 + 0x0102, f.length);
    assertArrayEquals(new byte[] {0x02, 0x01, 0, 0}, Arrays.copyOf(f, 4));
  }

  @Test
  void memoryHeldFollowsTheBytesThatArrivedNotTheAnnouncedLength() {
    FrameDecoder.Budget budget = new FrameDecoder.Budget(64L << 20);
    Recorder r = new Recorder();
    FrameDecoder d = new FrameDecoder(r, Frames.MAX_FRAME, budget);
    byte[] header = new byte[4];
    Frames.writeLength(header, 0, Frames.MAX_FRAME);
    d.feed(header);
    d.feed(new byte[] {'{'});
    assertTrue(d.heldBytes() <= FrameDecoder.INITIAL_BODY, "held " + d.heldBytes());
    long arrived = 1;
    byte[] chunk = new byte[77_777];
    while (arrived + chunk.length < Frames.MAX_FRAME) {
      d.feed(chunk);
      arrived += chunk.length;
      assertTrue(d.heldBytes() <= Math.max(FrameDecoder.INITIAL_BODY, 2 * arrived),
          "held " + d.heldBytes() + " after " + arrived + " bytes");
      assertEquals(d.heldBytes(), budget.used());
    }
    d.feed(new byte[(int) (Frames.MAX_FRAME - arrived)]);
    assertEquals(1, r.frames.size());
    assertEquals(Frames.MAX_FRAME, r.frames.get(0).length);
    assertEquals(0, budget.used(), "a completed frame gives its bytes back");
  }

  @Test
  void theSharedBudgetRefusesOnceAndReleaseGivesBack() {
    FrameDecoder.Budget budget = new FrameDecoder.Budget(100_000);
    List<Long> refused = new ArrayList<>();
    FrameDecoder.Sink sink = new FrameDecoder.Sink() {
      @Override
      public void frame(byte[] body) {
      }

      @Override
      public void oversized(long length) {
      }

      @Override
      public void overBudget(long length) {
        refused.add(length);
      }
    };
    FrameDecoder a = new FrameDecoder(sink, Frames.MAX_FRAME, budget);
    FrameDecoder b = new FrameDecoder(sink, Frames.MAX_FRAME, budget);
    byte[] header = new byte[4];
    Frames.writeLength(header, 0, 90_000);
    a.feed(header);
    a.feed(new byte[85_000]);
    assertEquals(85_000, budget.used(), "a holds what arrived");
    b.feed(header);
    b.feed(new byte[10]);
    assertEquals(List.of(90_000L), refused);
    assertTrue(b.isDead());
    assertEquals(85_000, budget.used(), "the refused decoder holds nothing");
    b.feed(new byte[100]);
    assertEquals(1, refused.size(), "refused once");
    a.release();
    assertEquals(0, budget.used());
  }
}
