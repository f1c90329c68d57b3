package protocol;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One response or event frame. Fields are kept in the order they are written; a field that has no
 * value is simply never set, so it is omitted on the wire.
 *
 * <p>Values are strings, numbers, booleans, byte arrays (sent as base64 strings), and maps and
 * lists of those.
 */
public final class Response {
  private final Map<String, Object> fields = new LinkedHashMap<>();
  /** Run once the answer has been made into a frame: what it held may be counted as freed. */
  private Runnable onFramed;
  /** An error that says a limit was reached ({@code Busy: ...}); never on the wire itself. */
  private boolean busy;

  private Response(String id) {
    fields.put("id", id == null ? "" : id);
  }

  /** {@code {id, exit_code: 0}}. */
  public static Response ok(String id) {
    return new Response(id).with("exit_code", 0);
  }

  /** {@code {id, error}}. */
  public static Response error(String id, String message) {
    return new Response(id).with("error", message);
  }

  /** A response with only the id, for shapes that have no exit code (shell events, streams). */
  public static Response of(String id) {
    return new Response(id);
  }

  public Response with(String field, Object value) {
    if (value != null) {
      fields.put(field, value);
    }
    return this;
  }

  /** {@code r} runs once this answer has been made into a frame (or dropped). */
  public Response whenFramed(Runnable r) {
    onFramed = r;
    return this;
  }

  /** The answer is now a frame: runs what {@link #whenFramed} registered, once. */
  public void framed() {
    Runnable r = onFramed;
    onFramed = null;
    if (r != null) {
      r.run();
    }
  }

  public String id() {
    return (String) fields.get("id");
  }

  public boolean isError() {
    return fields.containsKey("error");
  }

  /** Marks this error as one of a limit reached (see {@link Errors#busy}). */
  Response busy() {
    busy = true;
    return this;
  }

  /** What the answer was, for the metrics: "ok", "busy" or "error". */
  public String outcome() {
    return !isError() ? "ok" : busy ? "busy" : "error";
  }

  public Object get(String field) {
    return fields.get(field);
  }

  Map<String, Object> fields() {
    return fields;
  }

  @Override
  public String toString() {
    return new String(ResponseWriter.json(this), java.nio.charset.StandardCharsets.UTF_8);
  }
}
