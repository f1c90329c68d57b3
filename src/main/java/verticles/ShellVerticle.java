package verticles;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.ThreadingModel;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.Message;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import log.Log;
import protocol.Errors;
import protocol.Request;
import protocol.Response;
import state.AgentState;

/**
 * The registry of shell sessions. Starts each session as a {@link PtySessionVerticle}, routes
 * input, resize, close and attach to it from any connection, lists sessions, and forgets an
 * exited session after {@code shell_close} or its idle time.
 */
public final class ShellVerticle extends VerticleBase {
  private static final DeliveryOptions TO_SESSION = new DeliveryOptions()
      .setSendTimeout(TimeUnit.DAYS.toMillis(30));
  private static final List<String> DEFAULT_COMMAND = List.of("/bin/sh");

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
        case SHELL -> start(em, r);
        case SHELL_INPUT -> {
          String sid = need(r.sessionId());
          if (r.inputBase64() == null) {
            throw Errors.plain(Errors.NO_INPUT);
          }
          try {
            Base64.getDecoder().decode(r.inputBase64());
          } catch (IllegalArgumentException e) {
            throw Errors.failed(Errors.INVALID_BASE64, e.getMessage());
          }
          forward(em, lookup(sid, Errors.INPUT_FAILED));
        }
        case SHELL_RESIZE -> forward(em, lookup(need(r.sessionId()), Errors.RESIZE_FAILED));
        case SHELL_CLOSE -> close(em, lookup(need(r.sessionId()), Errors.CLOSE_FAILED));
        case SHELL_ATTACH -> {
          SessionInfo s = lookup(need(r.sessionId()), Errors.ATTACH_FAILED);
          // The connection sends the Attach itself once this answer is written.
          em.reply(Response.ok(r.id()).with("session_id", s.sessionId()));
        }
        case LIST_SESSIONS -> em.reply(list(r.id()));
        default -> em.reply(Response.error(r.id(), "Invalid request: not a shell request"));
      }
    } catch (RuntimeException e) {
      em.reply(Errors.toResponse(r.id(), e));
    }
  }

  private static String need(String sessionId) {
    if (sessionId == null) {
      throw Errors.plain(Errors.NO_SESSION);
    }
    return sessionId;
  }

  private SessionInfo lookup(String sessionId, String prefix) {
    SessionInfo s = sessions.get(sessionId);
    if (s == null) {
      throw Errors.sessionNotFound(prefix, sessionId);
    }
    return s;
  }

  private void start(Message<Messages.Envelope> m, Request r) {
    List<String> command = r.command() == null || r.command().isEmpty() ? DEFAULT_COMMAND
        : r.command();
    if (!AgentState.tryAcquire(state.sessions, state.config().maxSessions())) {
      throw Errors.busy("shell sessions (max " + state.config().maxSessions() + ")");
    }
    SessionInfo info = new SessionInfo(UUID.randomUUID().toString(), command,
        m.body().connId());
    sessions.put(info.sessionId(), info);
    vertx.deployVerticle(new PtySessionVerticle(info, r, state.config().shellBacklogBytes(),
            state.config().killGraceMs()),
        new DeploymentOptions().setThreadingModel(ThreadingModel.WORKER)).onComplete(ar -> {
          if (ar.failed()) {
            sessions.remove(info.sessionId());
            state.sessions.decrementAndGet();
            m.reply(Errors.toResponse(r.id(), Errors.shellFailed(command,
                r.env() != null && r.env().get("PATH") != null ? r.env().get("PATH")
                    : PtySessionVerticle.DEFAULT_ENV.get("PATH"), ar.cause())));
            return;
          }
          info.deploymentId = ar.result();
          Log.info("shell_started", "session", info.sessionId(), "connection",
              m.body().connId());
          m.reply(Response.of(r.id()).with("session_id", info.sessionId())
              .with("shell_event", "started"));
        });
  }

  private void forward(Message<Messages.Envelope> m, SessionInfo s) {
    vertx.eventBus().<Response>request(Addresses.session(s.sessionId()), m.body(), TO_SESSION)
        .onComplete(ar -> m.reply(ar.succeeded() ? ar.result().body()
            : Errors.toResponse(m.body().request().id(), ar.cause())));
  }

  private void close(Message<Messages.Envelope> m, SessionInfo s) {
    vertx.eventBus().<Response>request(Addresses.session(s.sessionId()), m.body(), TO_SESSION)
        .onComplete(ar -> {
          m.reply(ar.succeeded() ? ar.result().body()
              : Errors.toResponse(m.body().request().id(), ar.cause()));
          remove(s);
        });
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
    state.sessions.decrementAndGet();
    if (s.deploymentId != null) {
      vertx.undeploy(s.deploymentId);
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
      if (s.deploymentId != null) {
        undeployed.add(vertx.undeploy(s.deploymentId));
      }
    }
    sessions.clear();
    return Future.join(undeployed);
  }
}
