package verticles;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.ThreadingModel;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import log.Log;
import process.ShellProcess;
import protocol.Errors;
import protocol.Request;
import protocol.Response;
import state.AgentState;
import state.Slots;

/**
 * The registry of shell sessions, and the only one to write what it knows of them. Starts each
 * session as a {@link PtySessionVerticle}, passes close to it and decides who receives its
 * output, lists sessions, and forgets an exited session after {@code shell_close} or its idle
 * time. Input and resize go straight to the session's own address; only those whose session is
 * not there come here, to be answered.
 */
public final class ShellVerticle extends VerticleBase {
  private final AgentState state;
  private final Map<String, SessionInfo> sessions = new LinkedHashMap<>();

  public ShellVerticle(AgentState state) {
    this.state = state;
  }

  @Override
  public Future<?> start() {
    var bus = vertx.eventBus();
    return Future.all(
        bus.<Messages.Envelope>localConsumer(Addresses.SHELL, this::onRequest).completion(),
        bus.<Messages.ConnClosed>localConsumer(Addresses.CONN_CLOSED,
            m -> connClosed(m.body().connId())).completion(),
        bus.<Messages.SessionListening>localConsumer(Addresses.SESSION_LISTENING,
            m -> listening(m.body().sessionId())).completion(),
        bus.<Messages.SessionExited>localConsumer(Addresses.SESSION_EXITED,
            m -> exited(m.body())).completion());
  }

  /**
   * A shell request. Input and resize come here only when their session does not serve its own
   * address (not found, or closing); one that names no session was refused when parsed.
   */
  private void onRequest(Message<Messages.Envelope> m) {
    Request r = m.body().request();
    try {
      switch (r.type()) {
        case SHELL -> start(m, (Request.Shell) r);
        case SHELL_INPUT -> forward(m, lookup(sessionOf(r), Errors.INPUT_FAILED),
            Errors.INPUT_FAILED, null);
        case SHELL_RESIZE -> forward(m, lookup(sessionOf(r), Errors.RESIZE_FAILED),
            Errors.RESIZE_FAILED, null);
        case SHELL_CLOSE -> {
          SessionInfo s = lookup(sessionOf(r), Errors.CLOSE_FAILED);
          forward(m, s, Errors.CLOSE_FAILED, () -> remove(s));
        }
        case SHELL_ATTACH -> {
          SessionInfo s = lookup(sessionOf(r), Errors.ATTACH_FAILED);
          // A session that is still starting has nobody yet to receive its output, so the answer
          // waits for the start.
          whenStarted(m, s, Errors.ATTACH_FAILED,
              () -> answer(m, s, Response.shellAttached(r.id(), s.sessionId()), false));
        }
        case LIST_SESSIONS -> list(m, r.id());
      }
    } catch (RuntimeException e) {
      m.reply(Errors.toResponse(r.id(), e));
    }
  }

  private static String sessionOf(Request r) {
    return ((Request.SessionRequest) r).sessionId();
  }

  private SessionInfo lookup(String sessionId, String prefix) {
    SessionInfo s = sessions.get(sessionId);
    if (s == null) {
      throw Errors.sessionNotFound(prefix, sessionId);
    }
    return s;
  }

  private void start(Message<Messages.Envelope> m, Request.Shell r) {
    List<String> command = r.command();
    Slots.Slot slot = state.sessions.take();
    if (slot == null) {
      throw Errors.busy("shell sessions (max " + state.config().maxSessions() + ")");
    }
    SessionInfo info = new SessionInfo(UUID.randomUUID().toString(), command, slot, r.id());
    sessions.put(info.sessionId(), info);
    vertx.deployVerticle(new PtySessionVerticle(info.sessionId(), command, r, state),
        new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)).onComplete(ar -> {
          info.listening.tryComplete();
          if (ar.failed()) {
            sessions.remove(info.sessionId());
            slot.give();
            info.gone = true;
            m.reply(Errors.toResponse(r.id(), Errors.shellFailed(command,
                r.env() != null && r.env().get("PATH") != null ? r.env().get("PATH")
                    : ShellProcess.DEFAULT_ENV.get("PATH"), ar.cause())));
            info.started.tryFail(ar.cause());
            return;
          }
          info.deploymentId = ar.result();
          Log.info("shell_started", "session", info.sessionId(), "connection",
              m.body().connId());
          // Answered before the attaches that waited for the start are: they came later, and
          // the last of them receives.
          answer(m, info, Response.shellStarted(r.id(), info.sessionId()), true);
          info.started.tryComplete();
        });
  }

  /**
   * Answers a {@code shell} ({@code starting}) or {@code shell_attach}, and once the connection
   * has written the answer, makes it the session's receiver: no output reaches a host before the
   * answer that names the session. If the answer to {@code shell} could not be written, its
   * connection is gone and the output is kept as backlog.
   */
  private void answer(Message<Messages.Envelope> m, SessionInfo s, Response answer,
      boolean starting) {
    long decided = ++s.receiverAnswers;
    m.<Messages.Written>replyAndRequest(answer, Messages.UNTIMED).onComplete(ar -> {
      if (decided != s.receiverAnswers) {
        // A later shell_attach names the receiver.
        return;
      }
      if (ar.succeeded() && ar.result().body().written()) {
        String connId = ar.result().body().connId();
        if (s.gone) {
          // Closed while the answer was written: the end is all there is left to receive.
          endTo(s, connId);
        } else {
          receiver(s, connId);
        }
      } else if (starting) {
        receiver(s, null);
      }
    });
  }

  /** Makes {@code connId} (or nobody) the receiver of the session's output. */
  private void receiver(SessionInfo s, String connId) {
    if (!s.gone) {
      s.receiver = connId;
      vertx.eventBus().send(Addresses.sessionReceiver(s.sessionId()),
          new Messages.Receiver(connId));
    }
  }

  /**
   * Sends {@code exited} to a connection that attached to a session closed meanwhile, as the
   * session would have: a host answered that it attached waits for it.
   */
  private void endTo(SessionInfo s, String connId) {
    if (s.exitCode != null) {
      vertx.eventBus().send(Addresses.conn(connId), new Messages.Outbound(
          Response.shellExited(s.requestId(), s.exitCode, s.sessionId()), null, 0, 0));
    }
  }

  /** Connection {@code connId} closed: the sessions it received the output of keep it. */
  private void connClosed(String connId) {
    for (SessionInfo s : sessions.values()) {
      if (connId.equals(s.receiver)) {
        receiver(s, null);
      }
    }
  }

  private void listening(String sessionId) {
    SessionInfo s = sessions.get(sessionId);
    if (s != null) {
      s.listening.tryComplete();
    }
  }

  /**
   * Runs {@code then} once the session's verticle serves: at once if it already does. Requests
   * that arrive while it starts wait for it; if it never starts, or is gone by then, the request
   * is answered that the session is not found.
   */
  private void whenStarted(Message<Messages.Envelope> m, SessionInfo s, String prefix,
      Runnable then) {
    s.started.future().onComplete(ar -> {
      if (ar.failed() || s.gone) {
        m.reply(Errors.toResponse(m.body().request().id(),
            Errors.sessionNotFound(prefix, s.sessionId())));
      } else {
        then.run();
      }
    });
  }

  /**
   * Sends a request to the session and replies with its answer, then runs {@code afterReply}.
   * The session answers every request it took; one it did not take fails here (see
   * {@link #failure}), so each request is answered exactly once.
   */
  private void forward(Message<Messages.Envelope> m, SessionInfo s, String prefix,
      Runnable afterReply) {
    whenStarted(m, s, prefix, () -> vertx.eventBus().<Response>request(
        Addresses.session(s.sessionId()), m.body(), Messages.UNTIMED).onComplete(ar -> {
          m.reply(ar.succeeded() ? ar.result().body() : failure(m, s, prefix, ar.cause()));
          if (afterReply != null) {
            afterReply.run();
          }
        }));
  }

  /**
   * A request the session did not answer: it no longer served its address (closing, or gone), or
   * it stopped before taking the request (Vert.x then answers with a timeout).
   */
  private Response failure(Message<Messages.Envelope> m, SessionInfo s, String prefix,
      Throwable cause) {
    String id = m.body().request().id();
    if (Messages.undelivered(cause)) {
      // Still registered: it is closing. Otherwise it is forgotten, as if it never was.
      return Errors.toResponse(id, sessions.get(s.sessionId()) == s
          ? Errors.failed(prefix, "session closed")
          : Errors.sessionNotFound(prefix, s.sessionId()));
    }
    return Errors.toResponse(id, Errors.failed(prefix, cause));
  }

  private void exited(Messages.SessionExited e) {
    SessionInfo s = sessions.get(e.sessionId());
    if (s == null) {
      return;
    }
    s.exitCode = e.exitCode();
    s.running = false;
    if (s.idleTimer < 0) {
      s.idleTimer = vertx.setTimer(state.config().sessionIdleTimeoutMs(), t -> {
        Log.info("shell_expired", "session", s.sessionId());
        remove(s);
      });
    }
  }

  private void remove(SessionInfo s) {
    if (sessions.remove(s.sessionId()) == null) {
      return;
    }
    if (s.idleTimer >= 0) {
      vertx.cancelTimer(s.idleTimer);
    }
    s.slot().give();
    s.gone = true;
    if (s.deploymentId != null) {
      // The session answers whatever it took and still held when it stops.
      vertx.undeploy(s.deploymentId);
    }
    Log.info("shell_closed", "session", s.sessionId(), "exit_code", s.exitCode);
  }

  /** Answers once every session being started serves its address, so that all can be named. */
  private void list(Message<Messages.Envelope> m, String id) {
    List<Future<Void>> waiting = new ArrayList<>();
    for (SessionInfo s : sessions.values()) {
      if (!s.listening.future().isComplete()) {
        waiting.add(s.listening.future());
      }
    }
    if (waiting.isEmpty()) {
      m.reply(list(id));
    } else {
      Future.join(waiting).onComplete(ar -> m.reply(list(id)));
    }
  }

  private Response list(String id) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (SessionInfo s : sessions.values()) {
      Map<String, Object> e = new LinkedHashMap<>();
      e.put("session_id", s.sessionId());
      e.put("command", s.command());
      e.put("running", s.running);
      e.put("exit_code", s.exitCode);
      out.add(e);
    }
    return Response.sessions(id, out);
  }

  @Override
  public Future<?> stop() {
    List<Future<?>> undeployed = new ArrayList<>();
    for (SessionInfo s : new ArrayList<>(sessions.values())) {
      s.gone = true;
      if (s.deploymentId != null) {
        undeployed.add(vertx.undeploy(s.deploymentId));
      }
    }
    sessions.clear();
    return Future.join(undeployed);
  }
}
