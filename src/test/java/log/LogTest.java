package log;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The line formats and the level threshold, without an agent. */
class LogTest {
  private static final Instant T = Instant.parse("2026-01-02T03:04:05.678Z");

  @Test
  void aTextLineIsTimeLevelEventAndPlainOrQuotedValues() {
    assertEquals("2026-01-02T03:04:05.678Z INFO ready pid=42 mode=\"a b\" empty=\"\" none=null",
        Log.format(false, T, Log.Level.INFO, "ready", "pid", 42, "mode", "a b", "empty", "",
            "none", null));
    assertEquals("2026-01-02T03:04:05.678Z WARN \"odd event\" k=\"x=y\" q=\"\\\"\\\\\"",
        Log.format(false, T, Log.Level.WARN, "odd event", "k", "x=y", "q", "\"\\"));
  }

  @Test
  void aJsonLineKeepsNumbersAndBooleansAndQuotesTheRest() {
    String line = Log.format(true, T, Log.Level.ERROR, "start_failed", "error", "no\tway",
        "n", 7L, "ok", false, "path", "/tmp/x");
    assertEquals("{\"time\":\"2026-01-02T03:04:05.678Z\",\"level\":\"error\",\"event\":"
        + "\"start_failed\",\"error\":\"no\\tway\",\"n\":7,\"ok\":false,\"path\":\"/tmp/x\"}", line);
    JsonObject o = new JsonObject(line);
    assertEquals("no\tway", o.getString("error"));
    assertEquals(7, o.getInteger("n"));
  }

  @Test
  void aKeyWithoutAValueIsLeftOut() {
    assertEquals("2026-01-02T03:04:05.678Z DEBUG e a=1",
        Log.format(false, T, Log.Level.DEBUG, "e", "a", 1, "lonely"));
  }

  @Test
  void theThresholdLetsThroughItsLevelAndWhatIsMoreSevere() {
    try {
      Log.configure("text", "warn");
      assertTrue(Log.enabled(Log.Level.ERROR));
      assertTrue(Log.enabled(Log.Level.WARN));
      assertFalse(Log.enabled(Log.Level.INFO));
      assertFalse(Log.enabled(Log.Level.DEBUG));
      Log.configure("json", "DEBUG");
      assertTrue(Log.enabled(Log.Level.DEBUG));
      assertThrows(IllegalArgumentException.class, () -> Log.configure("text", "loud"));
    } finally {
      Log.configure("text", "info");
    }
  }
}
