package verticles;

import io.vertx.core.Promise;
import io.vertx.core.eventbus.Message;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import state.Slots;

/** What the registry knows of one session. Written by the session, read by the registry. */
final class SessionInfo {
  private final String sessionId;
  /** The session's place among max_sessions, given back when the registry lets it go. */
  private final Slots.Slot slot;
  private final List<String> command;
  /** The connection that sent {@code shell}: it receives the output unless it closes first. */
  private final String starter;
  /** Set by the registry when the starter closed before the session was attached to it. */
  volatile boolean starterGone;
  volatile long pid;
  volatile boolean running = true;
  volatile Integer exitCode;
  String deploymentId;
  long idleTimer = -1;
  /** Completes once the session's verticle serves its address; fails if it never does. */
  final Promise<Void> started = Promise.promise();
  /** Set by the registry once the session is forgotten: nothing more is sent to it. */
  boolean gone;
  /**
   * Requests sent to the session and not yet answered, with the error prefix of each. Only the
   * registry's context reads or writes this.
   */
  final Map<Message<Messages.Envelope>, String> pending = new LinkedHashMap<>();

  SessionInfo(String sessionId, List<String> command, String starter, Slots.Slot slot) {
    this.slot = slot;
    this.sessionId = sessionId;
    this.command = command;
    this.starter = starter;
  }

  Slots.Slot slot() {
    return slot;
  }

  String sessionId() {
    return sessionId;
  }

  List<String> command() {
    return command;
  }

  String starter() {
    return starter;
  }
}
