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
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import process.Posix;
import process.ProcessTree;
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
  /** After the process exits, how long the terminal may still deliver output. */
  private static final long DRAIN_GRACE_MS = 250;
  /** Input waiting to reach the terminal beyond this answers Busy. */
  private static final long MAX_PENDING_INPUT = 1024 * 1024;

  private final SessionInfo info;
  private final Request request;
  private final int backlogBytes;
  private final long killGraceMs;
  private UnixPtyProcess process;
  private OutputBuffer buffer;
  private StreamPump pump;
  private MessageConsumer<Object> consumer;
  private final CompletableFuture<Integer> exit = new CompletableFuture<>();
  private ExecutorService input;
  private long pendingInput;

  PtySessionVerticle(SessionInfo info, Request request, int backlogBytes, long killGraceMs) {
    this.info = info;
    this.request = request;
    this.backlogBytes = backlogBytes;
    this.killGraceMs = killGraceMs;
  }

  @Override
  public Future<?> start() throws Exception {
    Context context = vertx.getOrCreateContext();
    Map<String, String> env = new HashMap<>(System.getenv());
    env.putAll(DEFAULT_ENV);
    if (request.env() != null) {
      env.putAll(request.env());
    }
    String cwd = request.cwd() != null ? request.cwd() : System.getProperty("user.dir");
    if (!java.nio.file.Files.isDirectory(java.nio.file.Path.of(cwd))) {
      throw new IOException("No such directory: " + cwd);
    }
    // The window size is set on the terminal before the process starts, so that the very first
    // thing it asks (stty size, a full-screen program) sees the right size, never 0 x 0.
    Pty pty = new Pty(false);
    pty.setWindowSize(new WinSize(request.colsOrDefault(), request.rowsOrDefault()), null);
    String[] envArray = env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
        .toArray(String[]::new);
    process = new UnixPtyProcess(info.command().toArray(new String[0]), envArray, cwd, pty, null,
        false);
    info.pid = process.pid();
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
    consumer = vertx.eventBus().localConsumer(ackAddress, this::onMessage);
    Thread reader = Threads.start("pty-read-" + sid, this::readLoop);
    Threads.start("pty-wait-" + sid, () -> waitLoop(context, reader));
    return consumer.completion();
  }

  private void readLoop() {
    byte[] buf = new byte[64 * 1024];
    try (InputStream in = process.getInputStream()) {
      int n;
      while ((n = in.read(buf)) >= 0) {
        if (!buffer.append(buf, 0, n)) {
          break;
        }
        pump.wake();
      }
    } catch (IOException | InterruptedException e) {
      // The terminal is gone: its output has ended.
    }
  }

  private void waitLoop(Context context, Thread reader) {
    int code;
    try {
      code = process.waitFor();
      reader.join(DRAIN_GRACE_MS);
    } catch (InterruptedException e) {
      code = -1;
    }
    int exitCode = code;
    buffer.finish();
    pump.wake();
    context.runOnContext(v -> {
      info.exitCode = exitCode;
      info.running = false;
      exit.complete(exitCode);
      vertx.eventBus().send(Addresses.SHELL, new Messages.SessionExited(info.sessionId()));
    });
  }

  private void sendExited() {
    String conn = pump.receiver();
    if (conn != null && info.exitCode != null) {
      vertx.eventBus().send(Addresses.conn(conn), new Messages.Outbound(
          exited(request.id()), null, 0, 0));
    }
  }

  private Response exited(String id) {
    return Response.of(id).with("exit_code", info.exitCode).with("session_id", info.sessionId())
        .with("shell_event", "exited");
  }

  @SuppressWarnings("unchecked")
  private void onMessage(Message<Object> m) {
    Object body = m.body();
    if (body instanceof Messages.Ack a) {
      pump.ack(a.epoch(), a.offset());
    } else if (body instanceof Messages.Attach a) {
      pump.attach(a.connId());
      info.receiver = a.connId();
    } else if (body instanceof Messages.ConnClosed c) {
      if (c.connId().equals(pump.receiver())) {
        pump.detach();
        info.receiver = null;
      }
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
    killAll().onComplete(ar -> m.reply(exited(r.id())));
  }

  /**
   * Ends every process of the session: SIGHUP, as when a terminal goes away, then SIGKILL after
   * the grace. Completes once the session's process has exited.
   */
  private Future<Integer> killAll() {
    if (exit.isDone()) {
      // The process is gone; anything it left in its session still goes.
      ProcessTree.killSession(info.pid);
      return Future.fromCompletionStage(exit);
    }
    ProcessTree.signalSession(info.pid, Posix.SIGHUP);
    return vertx.<Integer>executeBlocking(() -> {
      try {
        return exit.get(killGraceMs, TimeUnit.MILLISECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        ProcessTree.killSession(info.pid);
        return exit.get(5, TimeUnit.SECONDS);
      }
    }).andThen(ar -> ProcessTree.killSession(info.pid));
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
