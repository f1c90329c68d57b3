package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

/** Small helpers shared by the protocol tests: requests, frame matching, bounded polling. */
final class ProtocolSupport {
  private ProtocolSupport() {}

  static JsonObject req(String id, String type) {
    return new JsonObject().put("id", id).put("type", type);
  }

  static JsonObject run(String id, String... argv) {
    return req(id, "run").put("command", new JsonArray(List.of((Object[]) argv)));
  }

  static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  static String unb64(String s) {
    return new String(Base64.getDecoder().decode(s), StandardCharsets.UTF_8);
  }

  static JsonObject ok(String id) {
    return new JsonObject().put("id", id).put("exit_code", 0);
  }

  static JsonObject error(String id, String message) {
    return new JsonObject().put("id", id).put("error", message);
  }

  /** Asserts a failure shape {@code {id, error}} whose error starts with {@code prefix}. */
  static void assertError(String id, String prefix, JsonObject r) {
    assertEquals(Set.of("id", "error"), r.fieldNames(), () -> "failure shape: " + r);
    assertEquals(id, r.getString("id"));
    assertTrue(r.getString("error").startsWith(prefix),
        () -> "error should start with '" + prefix + "': " + r);
  }

  /** Asserts {@code {id, error: "<prefix>: <some reason>"}}. */
  static void assertFailed(String id, String prefix, JsonObject r) {
    assertError(id, prefix + ": ", r);
    assertTrue(r.getString("error").length() > prefix.length() + 2, () -> "no reason: " + r);
  }

  /** Reads frames until one matches; the others are added to {@code skipped} (may be null). */
  static JsonObject until(AgentConnection c, Predicate<JsonObject> match, List<JsonObject> skipped)
      throws IOException {
    while (true) {
      JsonObject f = c.receive();
      if (match.test(f)) {
        return f;
      }
      if (skipped != null) {
        skipped.add(f);
      }
    }
  }

  /** The answer to request {@code id} that is not a shell event or a stream chunk. */
  static Predicate<JsonObject> answerTo(String id) {
    return f -> id.equals(f.getString("id")) && !f.containsKey("shell_event")
        && !f.containsKey("stream");
  }

  /** Asserts that the agent closed the connection: end of stream, or a reset. */
  static void assertClosedByAgent(AgentConnection c) {
    try {
      assertTrue(c.closedByAgent(), "expected the agent to close the connection, got more bytes");
    } catch (IOException e) {
      // A reset also means closed: the agent had not read everything we sent before closing.
      assertTrue(String.valueOf(e.getMessage()).contains("reset"), () -> "unexpected " + e);
    }
  }

  /** Polls until {@code condition} holds; the bound only catches hangs. */
  static void eventually(long boundMs, String what, BooleanSupplier condition)
      throws InterruptedException {
    support.Poll.until(what, boundMs, condition);
  }
}
