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
  /** The smaller answer sent when this one does not fit a frame, or null: see {@link #cut()}. */
  private java.util.function.Supplier<Response> cut;

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

  // ------------------------------------------------------------------------------------- runs

  /**
   * The answer to a run whose output is in it as text ({@code stdout}, {@code stderr}); a
   * {@code ...Cut} flag says that stream was cut. Too large for a frame, it becomes the same
   * answer with both outputs emptied and flagged (see {@link #cut()}).
   */
  public static Response run(String id, int exitCode, String stdout, boolean stdoutCut,
      String stderr, boolean stderrCut, boolean timedOut) {
    Response r = ok(id);
    r.fields.put("exit_code", exitCode);
    r.fields.put("stdout", stdout);
    r.fields.put("stderr", stderr);
    r.flags(stdoutCut, stderrCut, timedOut);
    r.cut = () -> run(id, exitCode, "", stdoutCut || !stdout.isEmpty(), "",
        stderrCut || !stderr.isEmpty(), timedOut);
    return r;
  }

  /** The same for output carried as base64 ({@code stdout_base64}, {@code stderr_base64}). */
  public static Response run(String id, int exitCode, byte[] stdout, boolean stdoutCut,
      byte[] stderr, boolean stderrCut, boolean timedOut) {
    Response r = ok(id);
    r.fields.put("exit_code", exitCode);
    r.fields.put("stdout_base64", stdout);
    r.fields.put("stderr_base64", stderr);
    r.flags(stdoutCut, stderrCut, timedOut);
    r.cut = () -> run(id, exitCode, new byte[0], stdoutCut || stdout.length > 0, new byte[0],
        stderrCut || stderr.length > 0, timedOut);
    return r;
  }

  /**
   * The answer to a run with no output in it: it was streamed before, as {@link #output}
   * events.
   */
  public static Response runEnd(String id, int exitCode, boolean stdoutCut, boolean stderrCut,
      boolean timedOut) {
    Response r = ok(id);
    r.fields.put("exit_code", exitCode);
    return r.flags(stdoutCut, stderrCut, timedOut);
  }

  /** A run's flags, each written only when true. */
  private Response flags(boolean stdoutCut, boolean stderrCut, boolean timedOut) {
    return flag("timed_out", timedOut).flag("stdout_truncated", stdoutCut)
        .flag("stderr_truncated", stderrCut);
  }

  private Response flag(String field, boolean set) {
    if (set) {
      fields.put(field, true);
    }
    return this;
  }

  /** One chunk of a streamed run's output: an {@code output_base64} event of {@code stream}. */
  public static Response output(String id, String stream, byte[] data) {
    Response r = new Response(id);
    r.fields.put("stream", stream);
    r.fields.put("output_base64", data);
    return r;
  }

  // ------------------------------------------------------------------------------------ files

  /** A whole file's content. */
  public static Response content(String id, byte[] data) {
    return ok(id).with("content_base64", data);
  }

  /** A chunk of a file of {@code size} bytes, {@code eof} when it reaches the end. */
  public static Response chunk(String id, byte[] data, long size, boolean eof) {
    return ok(id).with("content_base64", data).with("size", size).with("eof", eof);
  }

  /** What {@code stat} found, as written by the file operations. */
  public static Response stat(String id, Map<String, Object> stat) {
    return ok(id).with("stat", stat);
  }

  /** A directory's entries, which write themselves. */
  public static Response entries(String id, JsonValue entries) {
    return ok(id).with("entries", entries);
  }

  // ----------------------------------------------------------------------- shells and agent

  /** A session has started: its {@code started} event, which is the answer to {@code shell}. */
  public static Response shellStarted(String id, String sessionId) {
    return new Response(id).with("session_id", sessionId).with("shell_event", "started");
  }

  /** The answer to {@code shell_attach}. */
  public static Response shellAttached(String id, String sessionId) {
    return ok(id).with("session_id", sessionId);
  }

  /**
   * A session's output event; {@code dropped} bytes were let go before it for want of room (0:
   * none, and the field is left out).
   */
  public static Response shellOutput(String id, String sessionId, byte[] data, long dropped) {
    return new Response(id).with("session_id", sessionId).with("output_base64", data)
        .with("shell_event", "output").with("dropped_bytes", dropped > 0 ? dropped : null);
  }

  /** A session's process has exited, with {@code exitCode}: its {@code exited} event. */
  public static Response shellExited(String id, int exitCode, String sessionId) {
    return new Response(id).with("exit_code", exitCode).with("session_id", sessionId)
        .with("shell_event", "exited");
  }

  /** The answer to {@code list_sessions}. */
  public static Response sessions(String id, java.util.List<Map<String, Object>> sessions) {
    return ok(id).with("sessions", sessions);
  }

  /** The answer to {@code info}. */
  public static Response info(String id, Map<String, Object> info) {
    return ok(id).with("info", info);
  }

  /** Sets a field, unless {@code value} is null (the typed factories above use it). */
  Response with(String field, Object value) {
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

  /**
   * What is sent instead of this answer when it is too large for a frame, keeping what matters
   * (a run's exit code and flags, its output emptied and flagged as cut); null when no part of
   * it may be left out (a file or a listing sent in part would read as whole).
   */
  public Response cut() {
    return cut == null ? null : cut.get();
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
