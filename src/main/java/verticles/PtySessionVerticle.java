package verticles;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import process.ChildEnvironment;
import process.Containment;
import process.OutputSink;
import process.ProcessTree;
import process.Terminal;
import protocol.Errors;
import protocol.Request;
import protocol.Response;
import stream.OutputBuffer;
import stream.StreamPump;
import sys.LibC;

/**
 * One interactive session: a process on its own {@link Terminal}. A worker verticle, so that
 * starting the process and signalling it may block. The process engine reads the terminal into a
 * bounded buffer (no thread of the session's own); the pump sends that output, in order and with
 * flow control, to whichever connection started or last attached the session, and the
 * {@code exited} event after the last byte.
 */
public final class PtySessionVerticle extends VerticleBase {
  static final Map<String, String> DEFAULT_ENV = Map.of("TERM", "xterm-256color", "HOME", "/root",
      "PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
  /** Input waiting to reach the terminal beyond this answers Busy, unless none waits. */
  private static final long MAX_PENDING_INPUT = 1024 * 1024;

  private final SessionInfo info;
  /** Where the session's processes live (see process.Containment); made in start(). */
  private Containment.Cell cell;
  /** The {@code shell} request: dropped once the process has started (only spawning needs it). */
  private Request.Shell request;
  /** The id of the {@code shell} request, which every output frame carries. */
  private final String requestId;
  /** The connection that is to receive output next: the starter, then the last to attach. */
  private String expected;
  private final int backlogBytes;
  private final long killGraceMs;
  private Terminal terminal;
  private OutputBuffer buffer;
  private StreamPump pump;
  private MessageConsumer<Object> consumer;
  private final CompletableFuture<Integer> exit = new CompletableFuture<>();
  private long pendingInput;

  PtySessionVerticle(SessionInfo info, Request.Shell request, int backlogBytes, long killGraceMs) {
    this.info = info;
    this.request = request;
    this.requestId = request.id();
    this.expected = info.starter();
    this.backlogBytes = backlogBytes;
    this.killGraceMs = killGraceMs;
  }

  @Override
  public Future<?> start() throws Exception {
    Context context = vertx.getOrCreateContext();
    Map<String, String> env = ChildEnvironment.base();
    env.putAll(DEFAULT_ENV);
    if (request.env() != null) {
      env.putAll(request.env());
    }
    // Lets a shutdown or close find the session's processes that left it (see ProcessTree).
    cell = Containment.get().open("shell");
    env.put(ProcessTree.TAG_VARIABLE, cell.tag());
    String cwd = request.cwd() != null ? request.cwd() : System.getProperty("user.dir");
    buffer = new OutputBuffer(backlogBytes);
    String id = requestId;
    String sid = info.sessionId();
    String ackAddress = Addresses.session(sid);
    pump = new StreamPump(context, buffer,
        (data, dropped) -> Response.of(id).with("session_id", sid).with("output_base64", data)
            .with("shell_event", "output").with("dropped_bytes", dropped > 0 ? dropped : null),
        (conn, frame, epoch, offset) -> vertx.eventBus().send(Addresses.conn(conn),
            new Messages.Outbound(frame, ackAddress, epoch, offset)),
        this::sendExited);
    // Registered before the process starts: a connection that closes while the session starts is
    // told here (messages wait until start() returns, as this context runs one task at a time).
    consumer = vertx.eventBus().localConsumer(ackAddress, this::onMessage);
    try {
      terminal = Terminal.start(info.command(), cwd, env, request.cols(),
          request.rows(), cell.tag(), new Output(context), code -> exited(context, code));
    } catch (java.io.IOException | RuntimeException e) {
      consumer.unregister();
      cell.answered(true);
      throw e;
    } finally {
      // Its environment, cwd and the rest are not kept for the session's life (see the memory
      // plan's "shell sessions kept" term).
      request = null;
    }
    info.pid = terminal.pid();
    if (info.starterGone) {
      // The starter closed before it could be attached: keep the output as backlog.
      starterClosed(info.starter());
    }
    return consumer.completion();
  }

  /** The terminal's output, into the buffer; called by the process engine. */
  private final class Output implements OutputSink {
    private final Context context;

    Output(Context context) {
      this.context = context;
    }

    @Override
    public long room(Waker waker) {
      return buffer.room(waker);
    }

    @Override
    public boolean write(byte[] b, int off, int len) {
      boolean open = buffer.append(b, off, len);
      pump.wake();
      return open;
    }

    @Override
    public void finish() {
      // Queued after the exit task on the same context, so the exit code is known when the pump
      // finds the output drained.
      context.runOnContext(v -> {
        buffer.finish();
        pump.wake();
      });
    }
  }

  /**
   * The process has exited (called on the engine's thread). Its exit status is known at once, to
   * list_sessions and shell_close; the {@code exited} event waits for the output to end (see
   * {@link #sendExited}).
   */
  private void exited(Context context, int exitCode) {
    context.runOnContext(v -> {
      info.exitCode = exitCode;
      info.running = false;
      exit.complete(exitCode);
      vertx.eventBus().send(Addresses.SHELL, new Messages.SessionExited(info.sessionId()));
    });
  }

  /**
   * Called by the pump once the output has ended and all of it was sent: the {@code exited} event
   * goes only after the engine has taken the last byte, however long a slow host takes to make
   * room for it, and only to a connection that receives the output.
   */
  private void sendExited() {
    String conn = pump.receiver();
    if (conn != null && info.exitCode != null) {
      vertx.eventBus().send(Addresses.conn(conn), new Messages.Outbound(
          exited(requestId, info.exitCode), null, 0, 0));
    }
  }

  private Response exited(String id, int exitCode) {
    return Response.of(id).with("exit_code", exitCode).with("session_id", info.sessionId())
        .with("shell_event", "exited");
  }

  @SuppressWarnings("unchecked")
  private void onMessage(Message<Object> m) {
    Object body = m.body();
    if (body instanceof Messages.Ack a) {
      pump.ack(a.epoch(), a.offset());
    } else if (body instanceof Messages.Attach a) {
      expected = a.connId();
      pump.attach(a.connId());
    } else if (body instanceof Messages.ConnClosed c) {
      starterClosed(c.connId());
    } else if (body instanceof Messages.Envelope e) {
      Message<Messages.Envelope> em = (Message<Messages.Envelope>) (Message<?>) m;
      Request r = e.request();
      switch (r.type()) {
        case SHELL_INPUT -> input(em, (Request.ShellInput) r);
        case SHELL_RESIZE -> resize(em, (Request.ShellResize) r);
        case SHELL_CLOSE -> close(em, r);
        default -> m.reply(Response.error(r.id(), "Invalid request: not a session request"));
      }
    }
  }

  /** Connection {@code connId} closed; if it was to receive the output, the output waits. */
  private void starterClosed(String connId) {
    if (connId != null && connId.equals(expected)) {
      expected = null;
      pump.detach();
    }
  }

  private void input(Message<Messages.Envelope> m, Request.ShellInput r) {
    byte[] data = r.input();
    // One input of any size a frame can carry is taken when nothing waits: refusing it as Busy
    // would have a host that retries on Busy retry for ever.
    if (pendingInput > 0 && pendingInput + data.length > MAX_PENDING_INPUT) {
      m.reply(Errors.toResponse(r.id(), Errors.busy("session input not yet read by the process")));
      return;
    }
    pendingInput += data.length;
    Context context = vertx.getOrCreateContext();
    terminal.write(data, ex -> {
      Response done = ex == null ? Response.ok(r.id())
          : Errors.toResponse(r.id(), Errors.failed(Errors.INPUT_FAILED, ex));
      context.runOnContext(v -> {
        pendingInput -= data.length;
        m.reply(done);
      });
    });
  }

  private void resize(Message<Messages.Envelope> m, Request.ShellResize r) {
    Context context = vertx.getOrCreateContext();
    terminal.resize(r.cols(), r.rows(), ex -> {
      Response done = ex == null ? Response.ok(r.id())
          : Errors.toResponse(r.id(), Errors.failed(Errors.RESIZE_FAILED, ex));
      context.runOnContext(v -> m.reply(done));
    });
  }

  private void close(Message<Messages.Envelope> m, Request r) {
    killAll().onComplete(ar -> m.reply(ar.succeeded() ? exited(r.id(), ar.result())
        : Errors.toResponse(r.id(), Errors.failed(Errors.CLOSE_FAILED, ar.cause()))));
  }

  /** SIGKILL to every process of the session's cell, and to what escaped it before its placing. */
  private void sweep() {
    Containment.get().kill(java.util.List.of(cell));
  }

  /**
   * Ends every process of the session: SIGHUP, as when a terminal goes away, then SIGKILL after
   * the grace. Completes with the exit code once the session's process has exited. Nothing here
   * waits on a thread, so that many sessions can end at once within the shutdown budget.
   */
  private Future<Integer> killAll() {
    Future<Integer> exited = Future.fromCompletionStage(exit, vertx.getOrCreateContext());
    if (exit.isDone()) {
      // The process is gone; anything it left in its session, or that escaped it, still goes.
      sweep();
      return exited;
    }
    // The process itself first: just started, it may not lead its session yet.
    LibC.signal(info.pid, LibC.SIGHUP);
    Containment.get().signal(java.util.List.of(cell), LibC.SIGHUP);
    long timer = vertx.setTimer(Math.max(1, killGraceMs), t -> sweep());
    return exited.andThen(ar -> {
      vertx.cancelTimer(timer);
      sweep();
    });
  }

  @Override
  public Future<?> stop() {
    buffer.close();
    Future<Integer> done;
    if (exit.isDone()) {
      // Closed or expired: anything the process left in its session, or that escaped it, goes.
      done = killAll().recover(e -> Future.succeededFuture(-1));
    } else {
      // Still running, so the agent is shutting down: a hang-up to the process and its group,
      // as when a terminal goes away, reads no /proc; whatever is left after the grace goes with
      // the agent's last sweep of all its descendants, one pass for everything.
      LibC.signal(info.pid, LibC.SIGHUP);
      LibC.signal(-info.pid, LibC.SIGHUP);
      io.vertx.core.Promise<Integer> bounded = io.vertx.core.Promise.promise();
      long timer = vertx.setTimer(Math.max(1, killGraceMs), t -> bounded.tryComplete(-1));
      Future.fromCompletionStage(exit, vertx.getOrCreateContext()).onComplete(ar -> {
        vertx.cancelTimer(timer);
        bounded.tryComplete(ar.succeeded() ? ar.result() : -1);
      });
      done = bounded.future();
    }
    return done.andThen(ar -> {
      terminal.close();
      consumer.unregister();
    });
  }
}
