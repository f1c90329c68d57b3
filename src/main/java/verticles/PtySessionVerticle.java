package verticles;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import process.OutputSink;
import process.ShellProcess;
import protocol.Errors;
import protocol.Request;
import protocol.Response;
import stream.OutputBuffer;
import stream.StreamPump;

/**
 * One interactive session on the bus: its requests, acknowledgements and receiver each on an
 * address of its own, served by a {@link ShellProcess} (the process, its terminal and how it
 * ends). A worker verticle; its process starts on a spawning thread, so that no worker thread
 * waits for an exec (which may hang as long as the start bound). The process engine reads the
 * terminal into a bounded buffer (no thread of the session's own); the pump sends that output, in
 * order and with flow control, to the connection the registry names, and the {@code exited}
 * event after the last byte. Every request it takes is answered once, by the end of its stop.
 */
public final class PtySessionVerticle extends VerticleBase {
  private final String sessionId;
  private final List<String> command;
  /** The {@code shell} request: dropped once the process has started (only spawning needs it). */
  private Request.Shell request;
  /** The id of the {@code shell} request, which every output frame carries. */
  private final String requestId;
  private final int backlogBytes;
  private final long killGraceMs;
  private final state.AgentState state;
  /** Completed once the receiver has the last output and {@code exited}, or none is left. */
  private io.vertx.core.Promise<Void> delivered;
  private boolean exitedSent;
  /** The terminal has closed: no more output, and no more input will be read. */
  private boolean outputEnded;
  private ShellProcess process;
  /** Requests that came before the process had started, served once it has (or refused). */
  private List<Message<Messages.Envelope>> early = new ArrayList<>();
  /** Set on this context once the process has exited. */
  private Integer exitCode;
  private OutputBuffer buffer;
  private StreamPump pump;
  /** Input, resize and close; unregistered once the session closes, see {@link #stopServing}. */
  private MessageConsumer<Messages.Envelope> requests;
  private MessageConsumer<Messages.Ack> acks;
  private MessageConsumer<Messages.Receiver> receivers;
  /** Requests taken and not yet answered, with the error prefix of each. */
  private final Map<Message<Messages.Envelope>, String> pending = new LinkedHashMap<>();
  /** The session's follow-ups run on its context (a process.Loop). */
  private process.Loop scheduler;

  PtySessionVerticle(String sessionId, List<String> command, Request.Shell request,
      state.AgentState state) {
    this.sessionId = sessionId;
    this.command = command;
    this.request = request;
    this.requestId = request.id();
    this.state = state;
    this.backlogBytes = state.config().shellBacklogBytes();
    this.killGraceMs = state.config().killGraceMs();
  }

  @Override
  public Future<?> start() throws Exception {
    Context context = vertx.getOrCreateContext();
    EventBus bus = vertx.eventBus();
    scheduler = new ContextLoop(vertx, context);
    buffer = new OutputBuffer(backlogBytes);
    String id = requestId;
    String sid = sessionId;
    String ackAddress = Addresses.sessionAcks(sid);
    pump = new StreamPump(scheduler::execute, buffer,
        (data, dropped) -> Response.shellOutput(id, sid, data, dropped),
        (conn, frame, epoch, offset) -> bus.send(Addresses.conn(conn),
            new Messages.Outbound(frame, ackAddress, epoch, offset)),
        this::sendExited);
    // Served before the process starts, and the registry told so: requests that come while the
    // session starts are held until it has (see onRequest).
    requests = bus.localConsumer(Addresses.session(sid), this::onRequest);
    acks = bus.localConsumer(ackAddress, m -> pump.ack(m.body().epoch(), m.body().offset()));
    receivers = bus.localConsumer(Addresses.sessionReceiver(sid), m -> receiver(m.body()));
    bus.send(Addresses.SESSION_LISTENING, new Messages.SessionListening(sid));
    CompletableFuture<ShellProcess> starting = ShellProcess.startAsync(command, request.cwd(),
        request.env(), request.cols(), request.rows(), new Output(context),
        code -> exited(context, code));
    // Its environment, cwd and the rest are not kept for the session's life (see the memory
    // plan's "shell sessions kept" term).
    request = null;
    io.vertx.core.Promise<Void> started = io.vertx.core.Promise.promise();
    starting.whenComplete((p, e) -> context.runOnContext(v -> {
      List<Message<Messages.Envelope>> held = early;
      early = null;
      if (e != null) {
        requests.unregister();
        acks.unregister();
        receivers.unregister();
        // The session never was: as if they had come after its failure.
        for (Message<Messages.Envelope> m : held) {
          Request r = m.body().request();
          String prefix = switch (r.type()) {
            case SHELL_INPUT -> Errors.INPUT_FAILED;
            case SHELL_RESIZE -> Errors.RESIZE_FAILED;
            default -> Errors.CLOSE_FAILED;
          };
          m.reply(Errors.toResponse(r.id(), Errors.sessionNotFound(prefix, sessionId)));
        }
        started.fail(e instanceof java.util.concurrent.CompletionException c
            && c.getCause() != null ? c.getCause() : e);
        return;
      }
      process = p;
      held.forEach(this::onRequest);
      Future.all(requests.completion(), acks.completion(), receivers.completion())
          .<Void>mapEmpty().onComplete(started);
    }));
    return started.future();
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
        outputEnded = true;
        answerInputLeft();
      });
    }
  }

  /**
   * The process has exited (called on the engine's thread). Its exit status is known at once, to
   * list_sessions and shell_close; the {@code exited} event waits for the output to end (see
   * {@link #sendExited}).
   */
  private void exited(Context context, int code) {
    context.runOnContext(v -> {
      exitCode = code;
      vertx.eventBus().send(Addresses.SESSION_EXITED, new Messages.SessionExited(sessionId, code));
      answerInputLeft();
    });
  }

  /**
   * Once the program has exited and its terminal has closed, input still waiting has nobody left
   * to read it. (Not at the exit alone: input the program read just before it exited may not have
   * been answered yet, and the engine answers it before it reports the terminal closed.)
   */
  private void answerInputLeft() {
    if (exitCode == null || !outputEnded) {
      return;
    }
    for (Map.Entry<Message<Messages.Envelope>, String> e : new ArrayList<>(pending.entrySet())) {
      if (e.getValue().equals(Errors.INPUT_FAILED)) {
        answer(e.getKey(), noReader(e.getKey().body().request().id()));
      }
    }
  }

  /**
   * Called by the pump once the output has ended and all of it was sent: the {@code exited} event
   * goes only after the engine has taken the last byte, however long a slow host takes to make
   * room for it, and only to a connection that receives the output.
   */
  private void sendExited() {
    String conn = pump.receiver();
    if (conn != null && exitCode != null) {
      vertx.eventBus().send(Addresses.conn(conn), new Messages.Outbound(
          exited(requestId, exitCode), null, 0, 0));
      exitedSent = true;
      if (delivered != null) {
        delivered.tryComplete();
      }
    }
  }

  private Response exited(String id, int code) {
    return Response.shellExited(id, code, sessionId);
  }

  /** The registry names who receives the output now; nobody, and the output waits. */
  private void receiver(Messages.Receiver r) {
    if (r.connId() != null) {
      pump.attach(r.connId());
    } else {
      pump.detach();
      if (delivered != null) {
        delivered.tryComplete();
      }
    }
  }

  private void onRequest(Message<Messages.Envelope> m) {
    if (early != null) {
      early.add(m);
      return;
    }
    Request r = m.body().request();
    switch (r.type()) {
      case SHELL_INPUT -> input(m, (Request.ShellInput) r);
      case SHELL_RESIZE -> resize(m, (Request.ShellResize) r);
      case SHELL_CLOSE -> close(m, r);
      default -> m.reply(Response.error(r.id(), "Invalid request: not a session request"));
    }
  }

  /** Holds {@code m} until {@link #answer} (or the session stops, see {@link #stopServing}). */
  private void take(Message<Messages.Envelope> m, String prefix) {
    pending.put(m, prefix);
  }

  /** Answers a request taken by {@link #take}, unless it was answered already. */
  private void answer(Message<Messages.Envelope> m, Response answer) {
    if (pending.remove(m) != null) {
      m.reply(answer);
    }
  }

  /** The answer to input for a session whose program has exited. */
  private Response noReader(String id) {
    return Errors.toResponse(id, Errors.failed(Errors.INPUT_FAILED,
        "the session's program has exited (" + exitCode + ")"));
  }

  private void input(Message<Messages.Envelope> m, Request.ShellInput r) {
    if (exitCode != null) {
      // The terminal would take a few KiB more and then never answer.
      m.reply(noReader(r.id()));
      return;
    }
    byte[] data = r.input();
    boolean taken = process.write(data, ex -> {
      Response done = ex == null ? Response.ok(r.id())
          : Errors.toResponse(r.id(), Errors.failed(Errors.INPUT_FAILED, ex));
      scheduler.execute(() -> answer(m, done));
    });
    if (taken) {
      take(m, Errors.INPUT_FAILED);
    } else {
      m.reply(Errors.toResponse(r.id(), Errors.busy("session input not yet read by the process")));
    }
  }

  private void resize(Message<Messages.Envelope> m, Request.ShellResize r) {
    take(m, Errors.RESIZE_FAILED);
    process.resize(r.cols(), r.rows(), ex -> {
      Response done = ex == null ? Response.ok(r.id())
          : Errors.toResponse(r.id(), Errors.failed(Errors.RESIZE_FAILED, ex));
      scheduler.execute(() -> answer(m, done));
    });
  }

  /**
   * Ends the session's processes, lets the receiver have the rest of the output and
   * {@code exited} (see {@link #lastOutput}), and answers with the exit status. The session stops
   * serving its address first, so that whatever comes after the answer is answered by the
   * registry.
   */
  private void close(Message<Messages.Envelope> m, Request r) {
    take(m, Errors.CLOSE_FAILED);
    process.end(killGraceMs, scheduler).whenComplete((code, ex) -> scheduler.execute(() -> {
      Future<Void> sent = ex == null ? lastOutput() : Future.succeededFuture();
      sent.onComplete(ar -> {
        stopServing();
        answer(m, ex == null ? exited(r.id(), code)
            : Errors.toResponse(r.id(), Errors.failed(Errors.CLOSE_FAILED, ex)));
      });
    }));
  }

  /**
   * Takes no more requests (Vert.x answers those still queued, see Messages.undelivered) and
   * answers the input and resizes taken but not done: once the session is closed, nothing will
   * complete them. A close in progress is answered with the exit status when the process is gone.
   */
  private void stopServing() {
    requests.unregister();
    answerLeft(false);
  }

  /**
   * Once the session's processes are gone: the receiver gets the rest of the output and the
   * {@code exited} event, as it would had the program ended by itself. Waits no longer than a
   * connection may go without taking a byte (write_stall_timeout_ms, after which the connection
   * is closed anyway), nor once the receiver is gone or the agent stops.
   */
  private Future<Void> lastOutput() {
    if (delivered != null) {
      // Waited for already (a close, then the stop that follows it).
      return delivered.future();
    }
    delivered = io.vertx.core.Promise.promise();
    if (exitedSent || pump.receiver() == null || state.stopping()) {
      delivered.complete();
      return delivered.future();
    }
    long timer = vertx.setTimer(state.config().writeStallTimeoutMs(),
        t -> delivered.tryComplete());
    Runnable unhook = state.whenStopping(
        () -> scheduler.execute(() -> delivered.tryComplete()));
    return delivered.future().andThen(ar -> {
      vertx.cancelTimer(timer);
      unhook.run();
    });
  }

  /** Answers what is still held that the session closed, closes too if {@code closes}. */
  private void answerLeft(boolean closes) {
    for (Map.Entry<Message<Messages.Envelope>, String> e : new ArrayList<>(pending.entrySet())) {
      if (closes || !e.getValue().equals(Errors.CLOSE_FAILED)) {
        answer(e.getKey(), Errors.toResponse(e.getKey().body().request().id(),
            Errors.failed(e.getValue(), "session closed")));
      }
    }
  }

  @Override
  public Future<?> stop() {
    stopServing();
    if (state.stopping()) {
      buffer.close();
    }
    // Closed or expired: anything the process left in its session, or that escaped it, goes.
    // Still running, the agent is shutting down: a hang-up, and the agent's last sweep after.
    CompletableFuture<Integer> done = process.exit().isDone()
        ? process.end(killGraceMs, scheduler) : process.hangUp(killGraceMs, scheduler);
    return Future.fromCompletionStage(done, vertx.getOrCreateContext())
        .recover(e -> Future.succeededFuture(-1))
        .compose(code -> lastOutput())
        .andThen(ar -> {
          buffer.close();
          process.close();
          answerLeft(true);
          acks.unregister();
          receivers.unregister();
        });
  }
}
