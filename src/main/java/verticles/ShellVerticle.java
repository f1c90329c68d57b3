package verticles;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.ThreadingModel;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import log.Log;
import protocol.Errors;
import protocol.Request;
import protocol.Response;
import state.AgentState;
import state.Slots;

/**
 * The registry of shell sessions. Starts each session as a {@link PtySessionVerticle}, routes
 * input, resize, close and attach to it from any connection, lists sessions, and forgets an
 * exited session after {@code shell_close} or its idle time.
 */
public final class ShellVerticle extends VerticleBase {
  private final AgentState state;
  private final Map<String, SessionInfo> sessions = new LinkedHashMap<>();

  public ShellVerticle(AgentState state) {
    this.state = state;
  }

  @Override
  public Future<?> start() {
    return vertx.eventBus().localConsumer(Addresses.SHELL, this::onMessage).completion()
        .compose(v -> vertx.eventBus().<Messages.ConnClosed>localConsumer(Addresses.CONN_CLOSED,
            m -> {
              String conn = m.body().connId();
              for (SessionInfo s : sessions.values()) {
                if (s.deploymentId == null && conn.equals(s.starter())) {
                  // Still starting: the session reads this flag once it listens.
                  s.starterGone = true;
                }
                vertx.eventBus().send(Addresses.session(s.sessionId()), m.body());
              }
            }).completion());
  }

  @SuppressWarnings("unchecked")
  private void onMessage(Message<Object> m) {
    if (m.body() instanceof Messages.SessionExited e) {
      exited(e.sessionId());
      return;
    }
    Message<Messages.Envelope> em = (Message<Messages.Envelope>) (Message<?>) m;
    Request r = em.body().request();
    try {
      switch (r.type()) {
        case SHELL -> start(em, (Request.Shell) r);
        case SHELL_INPUT -> forward(em, lookup(((Request.ShellInput) r).sessionId(),
            Errors.INPUT_FAILED), Errors.INPUT_FAILED);
        case SHELL_RESIZE -> forward(em, lookup(((Request.ShellResize) r).sessionId(),
            Errors.RESIZE_FAILED), Errors.RESIZE_FAILED);
        case SHELL_CLOSE -> close(em, lookup(((Request.ShellClose) r).sessionId(),
            Errors.CLOSE_FAILED));
        case SHELL_ATTACH -> {
          SessionInfo s = lookup(((Request.ShellAttach) r).sessionId(), Errors.ATTACH_FAILED);
          // The connection sends the Attach itself once this answer is written: a session that
          // is still starting has nobody yet to receive it, so the answer waits for the start.
          whenStarted(em, s, Errors.ATTACH_FAILED,
              () -> em.reply(Response.ok(r.id()).with("session_id", s.sessionId())));
        }
        case LIST_SESSIONS -> em.reply(list(r.id()));
      }
    } catch (RuntimeException e) {
      em.reply(Errors.toResponse(r.id(), e));
    }
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
    SessionInfo info = new SessionInfo(UUID.randomUUID().toString(), command,
        m.body().connId(), slot);
    sessions.put(info.sessionId(), info);
    vertx.deployVerticle(new PtySessionVerticle(info, r, state.config().shellBacklogBytes(),
            state.config().killGraceMs()),
        new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)).onComplete(ar -> {
          if (ar.failed()) {
            sessions.remove(info.sessionId());
            slot.give();
            info.gone = true;
            m.reply(Errors.toResponse(r.id(), Errors.shellFailed(command,
                r.env() != null && r.env().get("PATH") != null ? r.env().get("PATH")
                    : PtySessionVerticle.DEFAULT_ENV.get("PATH"), ar.cause())));
            info.started.tryFail(ar.cause());
            return;
          }
          info.deploymentId = ar.result();
          info.started.tryComplete();
          Log.info("shell_started", "session", info.sessionId(), "connection",
              m.body().connId());
          m.reply(Response.of(r.id()).with("session_id", info.sessionId())
              .with("shell_event", "started"));
        });
  }

  /**
   * Runs {@code then} once the session's verticle serves: at once if it already does. Requests
   * that arrive while it starts wait for it, since its address has no consumer before that; if
   * it never starts, or is gone by then, the request is answered that the session is not found.
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
   * Sends a request to the session and replies with its answer. Until then the request is held in
   * {@link SessionInfo#pending}: a session that stops answers nothing it still had queued, so
   * whatever is pending when it is gone is answered here (see {@link #remove}). Each request is
   * answered exactly once, whichever comes first.
   */
  private void forward(Message<Messages.Envelope> m, SessionInfo s, String prefix) {
    forward(m, s, prefix, null);
  }

  private void forward(Message<Messages.Envelope> m, SessionInfo s, String prefix,
      Runnable afterReply) {
    whenStarted(m, s, prefix, () -> {
      s.pending.put(m, prefix);
      vertx.eventBus().<Response>request(Addresses.session(s.sessionId()), m.body(),
          Messages.UNTIMED)
          .onComplete(ar -> {
            if (s.pending.remove(m) == null) {
              return;
            }
            m.reply(ar.succeeded() ? ar.result().body() : failure(m, s, prefix, ar.cause()));
            if (afterReply != null) {
              afterReply.run();
            }
          });
    });
  }

  /** A request the session could not answer: it was gone, or failed. */
  private static Response failure(Message<Messages.Envelope> m, SessionInfo s, String prefix,
      Throwable cause) {
    String id = m.body().request().id();
    if (cause instanceof ReplyException re && re.failureType() == ReplyFailure.NO_HANDLERS) {
      return Errors.toResponse(id, Errors.sessionNotFound(prefix, s.sessionId()));
    }
    return Errors.toResponse(id, Errors.failed(prefix, cause));
  }

  private void close(Message<Messages.Envelope> m, SessionInfo s) {
    forward(m, s, Errors.CLOSE_FAILED, () -> remove(s));
  }

  /** Answers every request still held for a session that has stopped. */
  private static void answerPending(SessionInfo s) {
    List<Map.Entry<Message<Messages.Envelope>, String>> left = new ArrayList<>(
        s.pending.entrySet());
    s.pending.clear();
    for (Map.Entry<Message<Messages.Envelope>, String> e : left) {
      e.getKey().reply(Errors.toResponse(e.getKey().body().request().id(),
          Errors.failed(e.getValue(), "session closed")));
    }
  }

  private void exited(String sessionId) {
    SessionInfo s = sessions.get(sessionId);
    if (s != null && s.idleTimer < 0) {
      s.idleTimer = vertx.setTimer(state.config().sessionIdleTimeoutMs(), t -> {
        Log.info("shell_expired", "session", sessionId);
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
      // Once the session has stopped, nothing it still had queued will be answered by it.
      vertx.undeploy(s.deploymentId).onComplete(ar -> answerPending(s));
    } else {
      answerPending(s);
    }
    Log.info("shell_closed", "session", s.sessionId(), "exit_code", s.exitCode);
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
    return Response.ok(id).with("sessions", out);
  }

  @Override
  public Future<?> stop() {
    List<Future<?>> undeployed = new ArrayList<>();
    for (SessionInfo s : new ArrayList<>(sessions.values())) {
      s.gone = true;
      if (s.deploymentId != null) {
        undeployed.add(vertx.undeploy(s.deploymentId).andThen(ar -> answerPending(s)));
      } else {
        answerPending(s);
      }
    }
    sessions.clear();
    return Future.join(undeployed);
  }
}
