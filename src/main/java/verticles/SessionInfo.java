package verticles;

import io.vertx.core.Promise;
import java.util.List;
import state.Slots;

/**
 * What the registry knows of one session. Only the registry's context reads or writes it: the
 * session tells the registry what changes ({@link Messages.SessionListening},
 * {@link Messages.SessionExited}).
 */
final class SessionInfo {
  private final String sessionId;
  /** The session's place among max_sessions, given back when the registry lets it go. */
  private final Slots.Slot slot;
  private final List<String> command;
  private final String requestId;
  boolean running = true;
  Integer exitCode;
  /** The connection that receives the output, or {@code null}: see {@link Messages.Receiver}. */
  String receiver;
  String deploymentId;
  long idleTimer = -1;
  /**
   * Completes once the session serves its own address (or never will). {@code list_sessions}
   * waits for it, so that no host learns an id whose address nobody serves yet.
   */
  final Promise<Void> listening = Promise.promise();
  /** Completes once the session's verticle is deployed; fails if it never is. */
  final Promise<Void> started = Promise.promise();
  /** Set once the session is forgotten: nothing more is sent to it. */
  boolean gone;
  /**
   * Answers that name a receiver ({@code shell}, {@code shell_attach}) are numbered as they are
   * decided; the connection of the last one decided receives, whichever is written first.
   */
  long receiverAnswers;

  SessionInfo(String sessionId, List<String> command, Slots.Slot slot, String requestId) {
    this.slot = slot;
    this.sessionId = sessionId;
    this.command = command;
    this.requestId = requestId;
  }

  /** The id of the {@code shell} request, which the session's events carry. */
  String requestId() {
    return requestId;
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
}
