package protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import support.RandomText;

/**
 * The size the agent computes for an answer is the size the real writer produces, for every kind
 * of character: seeded random strings against {@link ResponseWriter#json}.
 */
class ResponseWriterPropertyTest {
  private static final long SEED = Long.getLong("fuzz.seed", 0x5EEDL);
  private static final int CASES = 20_000;

  @Test
  void escapedLengthIsWhatTheWriterWritesForEveryString() {
    Random rnd = new Random(SEED);
    for (int i = 0; i < CASES; i++) {
      String s = RandomText.string(rnd, rnd.nextInt(40));
      byte[] json = ResponseWriter.json(Response.of(s));
      // {"id":"<s>"}
      assertEquals(9 + ResponseWriter.escapedLength(s), json.length,
          () -> "seed " + SEED + ": " + describe(s) + " written as "
              + new String(json, StandardCharsets.UTF_8));
    }
  }

  @Test
  void everySingleUtf16UnitIsCountedExactly() {
    for (int c = 0; c <= 0xFFFF; c++) {
      String s = String.valueOf((char) c);
      assertEquals(9 + ResponseWriter.escapedLength((char) c),
          ResponseWriter.json(Response.of(s)).length, "U+" + Integer.toHexString(c));
    }
  }

  @Test
  void theLengthOfAWholeAnswerIsKnownBeforeItIsWritten() {
    Random rnd = new Random(SEED + 1);
    for (int i = 0; i < CASES / 4; i++) {
      Response r = Response.ok(RandomText.string(rnd, rnd.nextInt(8)));
      int fields = rnd.nextInt(6);
      for (int k = 0; k < fields; k++) {
        r.with(RandomText.string(rnd, 1 + rnd.nextInt(6)), randomValue(rnd, 2));
      }
      byte[] json = ResponseWriter.json(r);
      assertEquals(json.length, ResponseWriter.length(r),
          () -> "seed " + SEED + ": " + new String(json, StandardCharsets.UTF_8));
      assertEquals(json.length + Frames.HEADER, ResponseWriter.frame(r).length);
    }
  }

  @Test
  void outputDecodedFromInvalidUtf8IsCountedExactly() {
    Random rnd = new Random(SEED + 2);
    for (int i = 0; i < CASES / 4; i++) {
      byte[] raw = new byte[rnd.nextInt(64)];
      rnd.nextBytes(raw);
      String s = new String(raw, StandardCharsets.UTF_8);
      assertEquals(9 + ResponseWriter.escapedLength(s), ResponseWriter.json(Response.of(s)).length,
          () -> describe(s));
    }
  }

  @Test
  void aMillionEmojiTakeTwelveBytesEach() {
    String s = "\uD83D\uDE00".repeat(1_000_000);
    assertEquals(12_000_000L, ResponseWriter.escapedLength(s));
    assertEquals(12_000_009, ResponseWriter.json(Response.of(s)).length);
  }

  private static Object randomValue(Random rnd, int depth) {
    switch (rnd.nextInt(depth > 0 ? 9 : 7)) {
      case 0:
        return RandomText.string(rnd, rnd.nextInt(30));
      case 1:
        return rnd.nextInt();
      case 2:
        return rnd.nextLong();
      case 3:
        return rnd.nextBoolean();
      case 4: {
        byte[] b = new byte[rnd.nextInt(50)];
        rnd.nextBytes(b);
        return b;
      }
      case 5:
        return (int) (rnd.nextInt(3) - 1);
      case 6:
        return Long.MIN_VALUE;
      case 7: {
        Map<String, Object> m = new LinkedHashMap<>();
        int n = rnd.nextInt(4);
        for (int i = 0; i < n; i++) {
          m.put(RandomText.string(rnd, rnd.nextInt(5)), rnd.nextInt(5) == 0 ? null
              : randomValue(rnd, depth - 1));
        }
        return m;
      }
      default: {
        List<Object> l = new ArrayList<>();
        int n = rnd.nextInt(4);
        for (int i = 0; i < n; i++) {
          l.add(randomValue(rnd, depth - 1));
        }
        return l;
      }
    }
  }

  private static String describe(String s) {
    StringBuilder b = new StringBuilder();
    s.chars().forEach(c -> b.append(String.format("%04x ", c)));
    return b.toString();
  }
}
