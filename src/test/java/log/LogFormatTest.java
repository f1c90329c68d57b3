package log;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.time.Instant;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Whatever a value holds, a log line stays one line without control characters. */
class LogFormatTest {
  private static final long SEED = Long.getLong("fuzz.seed", 0x5EEDL);
  /** A text line: time, level, event, then key=value pairs, each value bare or quoted. */
  static final Pattern TEXT_LINE = Pattern.compile("\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z "
      + "(ERROR|WARN|INFO|DEBUG) [^ \"=\\\\]+( [^ \"=\\\\]+=([^ \"=\\\\]+|\"([^\"\\\\]|\\\\.)*\"))*");

  @Test
  void aForgedLineStaysInsideItsValue() {
    String forged = "x\n2026-01-01T00:00:00Z ERROR forged id=y";
    String line = Log.format(false, Instant.EPOCH, Log.Level.WARN, "invalid_request", "id",
        forged);
    assertEquals("1970-01-01T00:00:00Z WARN invalid_request "
        + "id=\"x\\n2026-01-01T00:00:00Z ERROR forged id=y\"", line);
  }

  @Test
  void aLongValueIsCutAndSaysByHowMuch() {
    // 1,023 letters, then a pair that would be split at 1,024: it goes whole into the rest.
    String id = "a".repeat(1023) + "\uD83D\uDE00" + "b".repeat(200_000);
    for (boolean json : new boolean[] {false, true}) {
      String line = Log.format(json, Instant.EPOCH, Log.Level.WARN, "invalid_request", "id", id,
          "bytes", 5);
      assertTrue(line.length() < 1200, () -> line.length() + " characters");
      assertTrue(line.contains("a".repeat(1023) + "...(200002 more characters)"), line);
      assertTrue(line.endsWith(json ? "\"bytes\":5}" : " bytes=5"), line);
    }
    String exact = "c".repeat(Log.MAX_VALUE);
    assertEquals("1970-01-01T00:00:00Z INFO e id=" + exact,
        Log.format(false, Instant.EPOCH, Log.Level.INFO, "e", "id", exact));
  }

  @Test
  void randomValuesNeverBreakALineInEitherFormat() {
    Random rnd = new Random(SEED);
    for (int i = 0; i < 20_000; i++) {
      String v = support.RandomText.string(rnd, rnd.nextInt(20));
      String text = Log.format(false, Instant.now(), Log.Level.INFO, "e", "id", v, "n", i);
      assertClean(text, v);
      assertTrue(TEXT_LINE.matcher(text).matches(), () -> "not one text line: " + text);
      String json = Log.format(true, Instant.now(), Log.Level.INFO, "e", "id", v, "n", i);
      assertClean(json, v);
      JsonObject o = new JsonObject(json);
      // Lone surrogates cannot travel as UTF-8, but they are escaped, so even they come back.
      assertEquals(v, o.getString("id"));
      assertEquals(i, o.getInteger("n"));
    }
  }

  private static void assertClean(String line, String v) {
    for (int k = 0; k < line.length(); k++) {
      char c = line.charAt(k);
      boolean control = c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029;
      int at = k;
      assertTrue(!control, () -> "control U+" + Integer.toHexString(c) + " at " + at + " of "
          + line + " for value " + v.chars().mapToObj(Integer::toHexString).toList());
    }
  }
}
