package stream;

import process.OutputSink;
import protocol.Request;
import protocol.Response;

/**
 * A run whose output goes to the host as it comes: each stream is an {@link OutputBuffer} (sharing
 * {@code run_stream_budget_bytes} with every other streamed run) that a {@link StreamPump} sends
 * as {@code output} frames, with flow control, up to the stream's cap. The answer
 * ({@code run_end}) comes last: once the process has exited and the connection has written every
 * byte of both streams.
 */
final class StreamedRun extends CommandRun {
  private static final int STREAM_BUFFER = 256 * 1024;

  private final Stream out;
  private final Stream err;
  private int drained;

  StreamedRun(Shared shared, String connId, Request.Run request, Answer answer) {
    super(shared, connId, request, answer);
    long cap = cap();
    out = new Stream("stdout", cap);
    err = new Stream("stderr", cap);
  }

  /** One output stream on its way to the connection. */
  private final class Stream implements Outlet.Acks {
    final OutputBuffer buffer = new OutputBuffer(STREAM_BUFFER, shared.streamBudget());
    final Outlet.Way way = shared.outlet().open(this);
    final StreamPump pump;
    final BufferSink sink;

    Stream(String name, long cap) {
      pump = new StreamPump(shared.loop(), buffer,
          (data, dropped) -> Response.output(request.id(), name, data), way,
          StreamedRun.this::drained);
      pump.attach(connId);
      sink = new BufferSink(buffer, pump, cap);
    }

    @Override
    public void ack(long epoch, long offset) {
      pump.ack(epoch, offset);
    }
  }

  @Override
  OutputSink stdout() {
    return out.sink;
  }

  @Override
  OutputSink stderr() {
    return err.sink;
  }

  /** A stream was written to its end. */
  private void drained() {
    drained++;
    maybeEnd();
  }

  @Override
  void exited() {
    maybeEnd();
  }

  private void maybeEnd() {
    if (exitCode == null || drained < 2) {
      return;
    }
    answer(Response.runEnd(request.id(), exitCode(), out.sink.truncated(), err.sink.truncated(),
        timedOut));
  }

  @Override
  void timedOutBeforeExit() {
    answer(Response.runEnd(request.id(), exitCode(), false, false, true));
  }

  @Override
  void closeOutput() {
    out.buffer.close();
    err.buffer.close();
  }

  @Override
  void release(Response response) {
    // Everything was acknowledged, or will never be: what the buffers took goes back.
    closeOutput();
    out.way.close();
    err.way.close();
  }
}
