package stream;

import java.nio.charset.StandardCharsets;
import process.Capture;
import process.OutputSink;
import protocol.Frames;
import protocol.Request;
import protocol.Response;
import protocol.ResponseWriter;

/**
 * A run whose output comes back in its answer: each stream is captured up to its cap (and the
 * shared {@code run_output_budget_bytes}), and the answer, given once the process has exited and
 * its output was read, is cut further if need be so that its frame stays under the limit.
 */
final class CapturedRun extends CommandRun {
  /** Room kept in a response frame for everything but the output itself. */
  private static final int FRAME_OVERHEAD = 512;

  private final Capture out;
  private final Capture err;

  CapturedRun(Shared shared, String connId, Request.Run request, Answer answer) {
    super(shared, connId, request, answer);
    // No more than a frame's worth can ever be sent, whatever the cap: keep no more than that.
    long kept = Math.min(cap(), Frames.MAX_FRAME);
    out = new Capture(kept, shared.captureBudget());
    err = new Capture(kept, shared.captureBudget());
  }

  @Override
  OutputSink stdout() {
    return out;
  }

  @Override
  OutputSink stderr() {
    return err;
  }

  @Override
  void exited() {
    answer(response());
  }

  @Override
  void timedOutBeforeExit() {
    answer(response());
  }

  @Override
  void closeOutput() {
    // A capture never blocks its producer: what comes after the answer is read and dropped.
  }

  @Override
  void release(Response response) {
    // The answer built from the output stays counted against run_output_budget_bytes until the
    // connection has made it a frame (then write_queue_budget_bytes counts the frame).
    out.drop();
    err.drop();
    response.whenFramed(() -> {
      out.release();
      err.release();
    });
  }

  /** The whole-output response, cut further if needed so that the frame stays under the limit. */
  private Response response() {
    String id = request.id();
    long budget = Math.max(0, Frames.MAX_FRAME - FRAME_OVERHEAD - ResponseWriter.escapedLength(id));
    byte[] o = out.bytes();
    byte[] e = err.bytes();
    boolean outTrunc = out.truncated();
    boolean errTrunc = err.truncated();
    if (request.outputEncoding() == Request.OutputEncoding.BASE64) {
      long[] fit = OutputFit.split(ResponseWriter.base64Length(o.length),
          ResponseWriter.base64Length(e.length), budget);
      byte[] o2 = OutputFit.bytesFor(o, fit[0]);
      byte[] e2 = OutputFit.bytesFor(e, fit[1]);
      return Response.run(id, exitCode(), o2, outTrunc || o2.length < o.length, e2,
          errTrunc || e2.length < e.length, timedOut);
    }
    // A cut at the cap may split a character: its first bytes are dropped, not shown as U+FFFD.
    String os = new String(o, 0, outTrunc ? OutputFit.utf8Whole(o) : o.length,
        StandardCharsets.UTF_8);
    String es = new String(e, 0, errTrunc ? OutputFit.utf8Whole(e) : e.length,
        StandardCharsets.UTF_8);
    long[] fit = OutputFit.split(ResponseWriter.escapedLength(os),
        ResponseWriter.escapedLength(es), budget);
    String os2 = OutputFit.prefixFor(os, fit[0]);
    String es2 = OutputFit.prefixFor(es, fit[1]);
    return Response.run(id, exitCode(), os2, outTrunc || os2.length() < os.length(), es2,
        errTrunc || es2.length() < es.length(), timedOut);
  }
}
