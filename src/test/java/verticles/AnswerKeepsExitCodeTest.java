package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import protocol.Frames;
import protocol.Response;
import protocol.ResponseWriter;
import support.SharedAgent;

/**
 * An answer never loses its exit code: the connection's last guard against an answer too large
 * for a frame keeps a run's exit code and flags and empties its output, and an id too long for
 * any answer to carry back is refused before anything runs.
 */
class AnswerKeepsExitCodeTest {
  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  @Test
  void aRunAnswerTooLargeForAFrameKeepsItsExitCodeAndFlagsItsOutput() {
    Response r = Response.run("x", 3, "a".repeat(12_000_000), false, "", false, true);
    long bytes = ResponseWriter.length(r);
    assertTrue(bytes > Frames.MAX_FRAME);
    Response cut = Connection.fitted(r, bytes);
    assertEquals(3, cut.get("exit_code"));
    assertEquals("", cut.get("stdout"));
    assertEquals(Boolean.TRUE, cut.get("stdout_truncated"));
    assertEquals("", cut.get("stderr"));
    assertNull(cut.get("stderr_truncated"), "nothing of stderr was cut");
    assertEquals(Boolean.TRUE, cut.get("timed_out"));
    assertTrue(ResponseWriter.length(cut) <= Frames.MAX_FRAME);

    Response b64 = Response.run("y", 1, new byte[9_000_000], false, new byte[1], false, false);
    Response cut64 = Connection.fitted(b64, ResponseWriter.length(b64));
    assertEquals(1, cut64.get("exit_code"));
    assertEquals(Boolean.TRUE, cut64.get("stdout_truncated"));
    assertEquals(Boolean.TRUE, cut64.get("stderr_truncated"));
    assertEquals(0, ((byte[]) cut64.get("stdout_base64")).length);
    assertNull(cut64.get("timed_out"));
  }

  @Test
  void anyOtherAnswerTooLargeBecomesAnErrorNotAPartialAnswer() {
    Response r = Response.content("x", new byte[9_000_000]);
    Response cut = Connection.fitted(r, ResponseWriter.length(r));
    assertTrue(((String) cut.get("error")).startsWith("Response too large: "), cut::toString);
    assertNull(cut.get("content_base64"));
  }

  @Test
  void anIdTooLongForAnyAnswerIsRefusedAndNothingRuns() throws Exception {
    for (String address : new String[] {agent.tcp(), agent.unix()}) {
      try (AgentConnection c = AgentConnection.open(address)) {
        // Long enough that an answer with it would not fit a frame; the request itself does.
        String id = "i".repeat(Frames.MAX_FRAME - 60);
        c.send(ProtocolSupport.run(id, "/bin/true"));
        JsonObject r = c.receive();
        assertEquals("", r.getString("id"));
        assertEquals("Invalid request: field 'id' is too long (" + id.length()
            + " bytes, max 1048576)", r.getString("error"));
        assertEquals(0, c.call(new JsonObject().put("id", "p").put("type", "ping"))
            .getInteger("exit_code"), "the connection stays usable");
      }
    }
  }

  @Test
  void theLongestIdStillGetsItsRunAnsweredWithTheExitCode() throws Exception {
    try (AgentConnection c = AgentConnection.open(agent.unix())) {
      String id = "\u0001".repeat((int) (Connection.MAX_ID / 6));
      // 12 MB of output: it must be cut, and the answer must still say how the run ended.
      JsonObject r = c.call(ProtocolSupport.run(id, "/bin/sh", "-c",
          "head -c 12000000 /dev/zero | tr '\\0' a; exit 5"));
      assertEquals(id, r.getString("id"));
      assertEquals(5, r.getInteger("exit_code"), () -> String.valueOf(r.getString("error")));
      assertEquals(Boolean.TRUE, r.getBoolean("stdout_truncated"));
    }
  }
}
