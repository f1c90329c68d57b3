package verticles;

import com.pty4j.WinSize;
import com.pty4j.unix.Pty;
import com.pty4j.unix.UnixPtyProcess;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import process.ChildEnvironment;
import process.Containment;
import process.Posix;
import process.ProcessTree;
import process.Reaper;
import protocol.Errors;
import protocol.Request;
import protocol.Response;
import stream.OutputBuffer;
import stream.StreamPump;
import transport.Threads;

/**
 * One interactive session: a process on its own terminal. A worker verticle, so that starting the
 * process and signalling it may block. A dedicated thread reads the terminal into a bounded
 * buffer; the pump sends that output, in order and with flow control, to whichever connection
 * started or last attached the session, and the {@code exited} event after the last byte.
 */
public final class PtySessionVerticle extends VerticleBase {
  static final Map<String, String> DEFAULT_ENV = Map.of("TERM", "xterm-256color", "HOME", "/root",
      "PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
  /**
   * After the process exits, the terminal still holds what it wrote last; the reader takes that,
   * but no more than this, so that a background job that keeps writing cannot hold back the
   * {@code exited} event for ever.
   */
  private static final long MAX_TAIL_AFTER_EXIT = 1024 * 1024;
  /** Input waiting to reach the terminal beyond this answers Busy. */
  private static final long MAX_PENDING_INPUT = 1024 * 1024;

  private final SessionInfo info;
  /** Where the session's processes live (see process.Containment); made in start(). */
  private Containment.Cell cell;
  private final Request request;
  /** The connection that is to receive output next: the starter, then the last to attach. */
  private String expected;
  private final int backlogBytes;
  private final long killGraceMs;
  private UnixPtyProcess process;
  private OutputBuffer buffer;
  private StreamPump pump;
  private MessageConsumer<Object> consumer;
  private final CompletableFuture<Integer> exit = new CompletableFuture<>();
  private ExecutorService input;
  private long pendingInput;
  private volatile boolean processExited;

  PtySessionVerticle(SessionInfo info, Request request, int backlogBytes, long killGraceMs) {
    this.info = info;
    this.request = request;
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
    if (!java.nio.file.Files.isDirectory(java.nio.file.Path.of(cwd))) {
      cell.answered(true);
      throw new IOException("No such directory: " + cwd);
    }
    buffer = new OutputBuffer(backlogBytes);
    String id = request.id();
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
      // The window size is set on the terminal before the process starts, so that the very first
      // thing it asks (stty size, a full-screen program) sees the right size, never 0 x 0.
      Pty pty = new Pty(false);
      pty.setWindowSize(new WinSize(request.colsOrDefault(), request.rowsOrDefault()), null);
      String[] envArray = env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
          .toArray(String[]::new);
      Reaper.becomeSubreaper();
      Reaper.spawning().lock();
      try {
        process = new UnixPtyProcess(info.command().toArray(new String[0]), envArray, cwd, pty,
            null, false);
        // pty4j waits for this child itself: the reaper must leave its exit status alone.
        Reaper.own(process.pid());
      } finally {
        Reaper.spawning().unlock();
      }
    } catch (IOException | RuntimeException e) {
      consumer.unregister();
      cell.answered(true);
      throw e;
    }
    cell.place(process.pid());
    info.pid = process.pid();
    if (info.starterGone) {
      // The starter closed before it could be attached: keep the output as backlog.
      starterClosed(info.starter());
    }
    Thread reader = Threads.start("pty-read-" + sid, this::readLoop);
    Threads.start("pty-wait-" + sid, () -> waitLoop(context, reader));
    return consumer.completion();
  }

  /**
   * Reads the terminal until it reports its end. pty4j reports the end once the process has
   * exited and the terminal holds nothing more, so this also ends when a background job still
   * has the terminal open.
   */
  private void readLoop() {
    byte[] buf = new byte[StreamPump.CHUNK];
    long afterExit = 0;
    try (InputStream in = process.getInputStream()) {
      int n;
      while ((n = in.read(buf)) >= 0) {
        if (!buffer.append(buf, 0, n)) {
          break;
        }
        pump.wake();
        if (processExited && (afterExit += n) > MAX_TAIL_AFTER_EXIT) {
          break;
        }
      }
    } catch (IOException | InterruptedException e) {
      // The terminal is gone: its output has ended.
    }
  }

  /**
   * Waits for the process. Its exit status is known at once (list_sessions, shell_close); the
   * output ends, and so the {@code exited} event may go, only once the reader has taken the last
   * byte, however long a slow host takes to make room for it.
   */
  private void waitLoop(Context context, Thread reader) {
    int code;
    try {
      code = process.waitFor();
    } catch (InterruptedException e) {
      code = -1;
    }
    Reaper.disown(process.pid());
    int exitCode = code;
    processExited = true;
    context.runOnContext(v -> {
      info.exitCode = exitCode;
      info.running = false;
      exit.complete(exitCode);
      vertx.eventBus().send(Addresses.SHELL, new Messages.SessionExited(info.sessionId()));
    });
    try {
      reader.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    // Queued after the task above on the same context, so the exit code is known when the pump
    // finds the output drained.
    context.runOnContext(v -> {
      buffer.finish();
      pump.wake();
    });
  }

  private void sendExited() {
    String conn = pump.receiver();
    if (conn != null && info.exitCode != null) {
      vertx.eventBus().send(Addresses.conn(conn), new Messages.Outbound(
          exited(request.id(), info.exitCode), null, 0, 0));
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
      info.receiver = a.connId();
    } else if (body instanceof Messages.ConnClosed c) {
      starterClosed(c.connId());
    } else if (body instanceof Messages.Envelope e) {
      Message<Messages.Envelope> em = (Message<Messages.Envelope>) (Message<?>) m;
      Request r = e.request();
      switch (r.type()) {
        case SHELL_INPUT -> input(em, r);
        case SHELL_RESIZE -> resize(em, r);
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
      info.receiver = null;
    }
  }

  private void input(Message<Messages.Envelope> m, Request r) {
    byte[] data = Base64.getDecoder().decode(r.inputBase64());
    if (pendingInput + data.length > MAX_PENDING_INPUT) {
      m.reply(Errors.toResponse(r.id(), Errors.busy("session input not yet read by the process")));
      return;
    }
    if (input == null) {
      input = new ThreadPoolExecutor(0, 1, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
          task -> {
            Thread t = new Thread(null, task, "pty-input-" + info.sessionId(), 256 * 1024);
            t.setDaemon(true);
            return t;
          });
    }
    pendingInput += data.length;
    Context context = vertx.getOrCreateContext();
    OutputStream out = process.getOutputStream();
    input.execute(() -> {
      Response resp;
      try {
        out.write(data);
        out.flush();
        resp = Response.ok(r.id());
      } catch (IOException ex) {
        resp = Errors.toResponse(r.id(), Errors.failed(Errors.INPUT_FAILED, ex));
      }
      Response done = resp;
      context.runOnContext(v -> {
        pendingInput -= data.length;
        m.reply(done);
      });
    });
  }

  private void resize(Message<Messages.Envelope> m, Request r) {
    try {
      process.setWinSize(new WinSize(r.colsOrDefault(), r.rowsOrDefault()));
      m.reply(Response.ok(r.id()));
    } catch (RuntimeException ex) {
      m.reply(Errors.toResponse(r.id(), Errors.failed(Errors.RESIZE_FAILED, ex)));
    }
  }

  private void close(Message<Messages.Envelope> m, Request r) {
    killAll().onComplete(ar -> m.reply(ar.succeeded() ? exited(r.id(), ar.result())
        : Errors.toResponse(r.id(), Errors.failed(Errors.CLOSE_FAILED, ar.cause()))));
  }

  /**
   * Ends every process of the session: SIGHUP, as when a terminal goes away, then SIGKILL after
   * the grace. Completes with the exit code once the session's process has exited. Nothing here
   * waits on a thread, so that many sessions can end at once within the shutdown budget.
   */
  /** SIGKILL to every process of the session, and to those that left it but carry its tag. */
  private void sweep() {
    Containment.get().kill(java.util.List.of(cell));
  }

  private Future<Integer> killAll() {
    Future<Integer> exited = Future.fromCompletionStage(exit, vertx.getOrCreateContext());
    if (exit.isDone()) {
      // The process is gone; anything it left in its session, or that escaped it, still goes.
      sweep();
      return exited;
    }
    // The process itself first: just started, it may not lead its session yet.
    Posix.kill(info.pid, Posix.SIGHUP);
    Containment.get().signal(java.util.List.of(cell), Posix.SIGHUP);
    long timer = vertx.setTimer(Math.max(1, killGraceMs), t -> sweep());
    return exited.andThen(ar -> {
      vertx.cancelTimer(timer);
      sweep();
    });
  }

  @Override
  public Future<?> stop() {
    buffer.close();
    if (input != null) {
      input.shutdownNow();
    }
    Future<Integer> done = killAll().recover(e -> Future.succeededFuture(-1));
    return done.andThen(ar -> consumer.unregister());
  }
}
