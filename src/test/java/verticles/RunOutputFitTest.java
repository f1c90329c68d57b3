package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import protocol.Frames;
import protocol.ResponseWriter;
import support.SharedAgent;

/**
 * Output that escapes much larger than it is raw (emoji take 12 bytes each in the answer, a NUL
 * 6) is cut to fit one frame and flagged; the answer keeps its exit code. On TCP and Unix.
 */
class RunOutputFitTest {
  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  private static final String EMOJI = "\uD83D\uDE00";
  /** Prints a million emoji on stdout: 4,000,000 bytes, under the 4 MiB cap. */
  private static final String MILLION = "yes " + EMOJI + " | head -n 1000000 | tr -d '\\n'";

  @Test
  void aMillionEmojiAnswerWithTheExitCodeOverTcp() throws Exception {
    aMillionEmoji(agent.tcp());
  }

  @Test
  void aMillionEmojiAnswerWithTheExitCodeOverUnix() throws Exception {
    aMillionEmoji(agent.unix());
  }

  private static void aMillionEmoji(String address) throws Exception {
    try (AgentConnection c = AgentConnection.open(address)) {
      JsonObject r = c.call(ProtocolSupport.run("e", "/bin/sh", "-c", MILLION + "; exit 3"));
      assertEquals(3, r.getInteger("exit_code"), () -> String.valueOf(r.getString("error")));
      assertEquals(Boolean.TRUE, r.getBoolean("stdout_truncated"));
      String out = r.getString("stdout");
      assertTrue(out.length() > 0 && out.length() % 2 == 0, "cut on a whole character");
      assertEquals(EMOJI.repeat(out.length() / 2), out);
      assertFits(r);
      // The cut leaves less than one character of room.
      assertTrue(encodedSize(r) > Frames.MAX_FRAME - 1024, () -> "cut short: " + encodedSize(r));
    }
  }

  @Test
  void bothStreamsThatEscapeLargeShareOneFrame() throws Exception {
    for (String address : new String[] {agent.tcp(), agent.unix()}) {
      try (AgentConnection c = AgentConnection.open(address)) {
        JsonObject r = c.call(ProtocolSupport.run("b", "/bin/sh", "-c",
            MILLION + "; head -c 3000000 /dev/zero >&2"));
        assertEquals(0, r.getInteger("exit_code"), () -> String.valueOf(r.getString("error")));
        assertEquals(Boolean.TRUE, r.getBoolean("stdout_truncated"));
        assertEquals(Boolean.TRUE, r.getBoolean("stderr_truncated"));
        assertTrue(r.getString("stderr").chars().allMatch(ch -> ch == 0));
        assertFits(r);
      }
    }
  }

  /** What the two outputs take in the frame the agent wrote, escaped its way. */
  private static long encodedSize(JsonObject r) {
    return ResponseWriter.escapedLength(r.getString("stdout"))
        + ResponseWriter.escapedLength(r.getString("stderr"));
  }

  private static void assertFits(JsonObject r) {
    assertTrue(encodedSize(r) <= Frames.MAX_FRAME, "outputs take " + encodedSize(r));
  }
}
