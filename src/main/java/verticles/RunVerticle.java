package verticles;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import log.Log;
import process.Capture;
import process.Containment;
import process.OutputBudget;
import process.OutputSink;
import process.RunProcess;
import protocol.Errors;
import protocol.Frames;
import protocol.Request;
import protocol.Response;
import protocol.ResponseWriter;
import state.AgentState;
import stream.BufferSink;
import stream.OutputBuffer;
import stream.StreamPump;

/**
 * Serves {@code run}: starts the command without a shell, collects or streams its output, applies
 * its timeout, and kills its whole process tree when the connection that asked is gone.
 */
public final class RunVerticle extends VerticleBase {
  /** Room kept in a response frame for everything but the output itself. */
  private static final int FRAME_OVERHEAD = 512;
  private static final long STREAM_BUFFER = 256 * 1024;

  private final AgentState state;
  /** Shared by every run this verticle serves. */
  private final OutputBudget budget;
  /**
   * What streamed runs' buffers hold beyond their own reserve of {@link OutputBuffer#RESERVE},
   * over all streamed runs: a run that finds it spent is read no faster than its host takes it.
   */
  private final protocol.FrameDecoder.Budget streamBudget;
  private final Map<String, Set<Run>> byConnection = new HashMap<>();
  private long nextStream;
  private Context context;

  public RunVerticle(AgentState state) {
    this.state = state;
    this.budget = new OutputBudget(state.config().runOutputBudgetBytes());
    this.streamBudget = new protocol.FrameDecoder.Budget(state.config().runStreamBudgetBytes());
  }

  /** One command in flight. */
  private final class Run {
    final Message<Messages.Envelope> message;
    final Request.Run request;
    final String connId;
    RunProcess process;
    /** The run's place among max_runs, taken before it starts. */
    state.Slots.Slot slot;
    /** The start, until it completes (a shutdown waits for it). */
    java.util.concurrent.CompletableFuture<RunProcess> starting;
    long timer = -1;
    boolean timedOut;
    boolean answered;
    // Set only for streamed runs.
    BufferSink outSink;
    BufferSink errSink;
    Capture outCapture;
    Capture errCapture;
    final List<StreamPump> pumps = new ArrayList<>();
    final List<OutputBuffer> buffers = new ArrayList<>();
    final List<MessageConsumer<Messages.Ack>> acks = new ArrayList<>();
    int pumpsDrained;
    Integer exitCode;

    Run(Message<Messages.Envelope> message) {
      this.message = message;
      this.request = (Request.Run) message.body().request();
      this.connId = message.body().connId();
    }
  }

  @Override
  public Future<?> start() {
    context = vertx.getOrCreateContext();
    EventBus bus = vertx.eventBus();
    return Future.all(
        bus.<Messages.Envelope>localConsumer(Addresses.RUN, this::handle).completion(),
        bus.<Messages.ConnClosed>localConsumer(Addresses.CONN_CLOSED,
            m -> connectionClosed(m.body().connId())).completion());
  }

  private void handle(Message<Messages.Envelope> message) {
    Run run = new Run(message);
    Request.Run r = run.request;
    run.slot = state.runs.take();
    if (run.slot == null) {
      message.reply(Errors.toResponse(r.id(), Errors.busy("runs (max "
          + state.config().maxRuns() + ")")));
      return;
    }
    long cap = r.maxOutputBytes() != null ? r.maxOutputBytes() : state.config().runMaxOutputBytes();
    OutputSink out;
    OutputSink err;
    if (r.stream()) {
      out = run.outSink = streamSink(run, "stdout", cap);
      err = run.errSink = streamSink(run, "stderr", cap);
    } else {
      // No more than a frame's worth can ever be sent, whatever the cap: keep no more than that.
      long kept = Math.min(cap, Frames.MAX_FRAME);
      out = run.outCapture = new Capture(kept, budget);
      err = run.errCapture = new Capture(kept, budget);
    }
    byConnection.computeIfAbsent(run.connId, k -> new HashSet<>()).add(run);
    run.starting = RunProcess.startAsync(r.command(), r.cwd(), r.env(), r.stdin(), out, err);
    Future.fromCompletionStage(run.starting, context).onComplete(ar -> {
          if (ar.failed()) {
            finish(run, Errors.toResponse(r.id(), Errors.runFailed(r.command(), r.cwd(),
                ar.cause() instanceof IOException io && io.getCause() != null
                    ? io.getCause() : ar.cause())));
            return;
          }
          run.process = ar.result();
          if (run.answered) {
            // The connection closed while the process was starting.
            killTree(run);
            return;
          }
          if (r.timeoutMs() != null) {
            run.timer = vertx.setTimer(r.timeoutMs(), t -> {
              run.timer = -1;
              if (run.exitCode == null && run.process.isAlive()) {
                run.timedOut = true;
                killTree(run);
              }
            });
          }
          run.process.done().whenComplete((code, e) -> context.runOnContext(v -> exited(run, code)));
        });
  }

  /** Kills the run's process tree (on the containment thread: this returns at once). */
  private void killTree(Run run) {
    run.process.killTree();
  }

  private BufferSink streamSink(Run run, String name, long cap) {
    String ackAddress = Addresses.runStream(Long.toString(++nextStream, 36));
    OutputBuffer buffer = new OutputBuffer((int) STREAM_BUFFER, streamBudget);
    StreamPump pump = new StreamPump(context, buffer,
        (data, dropped) -> Response.output(run.request.id(), name, data),
        (conn, frame, epoch, offset) -> vertx.eventBus().send(Addresses.conn(conn),
            new Messages.Outbound(frame, ackAddress, epoch, offset)),
        () -> streamDrained(run));
    run.acks.add(vertx.eventBus().<Messages.Ack>localConsumer(ackAddress,
        m -> pump.ack(m.body().epoch(), m.body().offset())));
    run.pumps.add(pump);
    run.buffers.add(buffer);
    pump.attach(run.connId);
    return new BufferSink(buffer, pump, cap);
  }

  private void streamDrained(Run run) {
    run.pumpsDrained++;
    maybeAnswerStream(run);
  }

  private void exited(Run run, Integer code) {
    if (run.timer >= 0) {
      vertx.cancelTimer(run.timer);
    }
    run.exitCode = code == null ? -1 : code;
    if (run.request.stream()) {
      maybeAnswerStream(run);
      return;
    }
    finish(run, response(run));
  }

  private void maybeAnswerStream(Run run) {
    if (run.exitCode == null || run.pumpsDrained < run.pumps.size()) {
      return;
    }
    finish(run, Response.runEnd(run.request.id(), exitCode(run), run.outSink.truncated(),
        run.errSink.truncated(), run.timedOut));
  }

  private int exitCode(Run run) {
    return run.timedOut ? 124 : run.exitCode;
  }

  /** The whole-output response, cut further if needed so that the frame stays under the limit. */
  private Response response(Run run) {
    String id = run.request.id();
    long budget = Math.max(0, Frames.MAX_FRAME - FRAME_OVERHEAD - ResponseWriter.escapedLength(id));
    byte[] out = run.outCapture.bytes();
    byte[] err = run.errCapture.bytes();
    boolean outTrunc = run.outCapture.truncated();
    boolean errTrunc = run.errCapture.truncated();
    if (run.request.outputEncoding() == Request.OutputEncoding.BASE64) {
      long[] fit = OutputFit.split(ResponseWriter.base64Length(out.length),
          ResponseWriter.base64Length(err.length), budget);
      byte[] o = OutputFit.bytesFor(out, fit[0]);
      byte[] e = OutputFit.bytesFor(err, fit[1]);
      return Response.run(id, exitCode(run), o, outTrunc || o.length < out.length, e,
          errTrunc || e.length < err.length, run.timedOut);
    }
    // A cut at the cap may split a character: its first bytes are dropped, not shown as U+FFFD.
    String o = new String(out, 0, outTrunc ? OutputFit.utf8Whole(out) : out.length,
        StandardCharsets.UTF_8);
    String e = new String(err, 0, errTrunc ? OutputFit.utf8Whole(err) : err.length,
        StandardCharsets.UTF_8);
    long[] fit = OutputFit.split(ResponseWriter.escapedLength(o),
        ResponseWriter.escapedLength(e), budget);
    String o2 = OutputFit.prefixFor(o, fit[0]);
    String e2 = OutputFit.prefixFor(e, fit[1]);
    return Response.run(id, exitCode(run), o2, outTrunc || o2.length() < o.length(), e2,
        errTrunc || e2.length() < e.length(), run.timedOut);
  }

  private void finish(Run run, Response response) {
    if (run.answered) {
      return;
    }
    run.answered = true;
    if (run.slot != null) {
      run.slot.give();
    }
    if (run.process != null) {
      // What the command left running stays in its cell, or ends now if the host asked.
      run.process.cell().answered(run.request.killLeftovers());
    }
    if (run.outCapture != null) {
      // The answer built from the output stays counted against run_output_budget_bytes until the
      // connection has made it a frame (then write_queue_budget_bytes counts the frame).
      Capture out = run.outCapture;
      Capture err = run.errCapture;
      out.drop();
      err.drop();
      response.whenFramed(() -> {
        out.release();
        err.release();
      });
    }
    for (OutputBuffer b : run.buffers) {
      // Everything was acknowledged, or will never be: what the buffer took goes back.
      b.close();
    }
    run.acks.forEach(MessageConsumer::unregister);
    Set<Run> set = byConnection.get(run.connId);
    if (set != null) {
      set.remove(run);
      if (set.isEmpty()) {
        byConnection.remove(run.connId);
      }
    }
    run.message.reply(response);
  }

  private void connectionClosed(String connId) {
    Set<Run> runs = byConnection.remove(connId);
    if (runs == null) {
      return;
    }
    // One batch for the whole connection: with cgroups one write per run, without them a few
    // passes over /proc for all of them together.
    List<Containment.Cell> cells = new ArrayList<>();
    for (Run run : runs) {
      Log.info("run_killed", "connection", connId, "id", run.request.id(), "reason",
          "connection closed");
      for (OutputBuffer b : run.buffers) {
        b.close();
      }
      if (run.process != null) {
        cells.add(run.process.cell());
      }
    }
    if (!cells.isEmpty()) {
      Containment.get().kill(cells);
    }
    for (Run run : runs) {
      finish(run, Response.error(run.request.id(), Errors.CONNECTION_CLOSED));
    }
  }

  /**
   * Shutdown: SIGTERM to each run's process group (it leads one of its own, so this reads no
   * /proc), then up to the kill grace for the runs to end. What is still alive after that, or
   * left its group, is killed by the agent's last step, one pass over all its descendants
   * ({@code ProcessTree.killAllDescendants}), instead of a search per run here.
   */
  @Override
  public Future<?> stop() {
    process.Launcher.stopStarting();
    List<Run> all = new ArrayList<>();
    byConnection.values().forEach(all::addAll);
    for (Run run : all) {
      for (OutputBuffer b : run.buffers) {
        b.close();
      }
      if (run.process != null) {
        run.process.terminateGroup();
      }
    }
    long grace = state.config().killGraceMs();
    return vertx.executeBlocking(() -> {
      long deadline = System.nanoTime() + grace * 1_000_000;
      for (Run run : all) {
        RunProcess p = run.process;
        long left = Math.max(0, deadline - System.nanoTime());
        try {
          if (p == null && run.starting != null) {
            // Still starting: it must not outlive the last sweep of the shutdown.
            // A start already under way finishes (a spawn takes milliseconds); those queued
            // behind it now fail at once.
            p = run.starting.get(Math.max(left, grace * 1_000_000),
                java.util.concurrent.TimeUnit.NANOSECONDS);
            p.terminateGroup();
            left = Math.max(0, deadline - System.nanoTime());
          }
          if (p != null) {
            p.done().get(left, java.util.concurrent.TimeUnit.NANOSECONDS);
          }
        } catch (Exception e) {
          // Still alive after the grace (or it did not start): killed with every other
          // descendant.
        }
      }
      return null;
    });
  }
}
