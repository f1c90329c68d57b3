package verticles;

import java.util.List;

/** What the registry knows of one session. Written by the session, read by the registry. */
final class SessionInfo {
  private final String sessionId;
  private final List<String> command;
  /** The connection that sent {@code shell}: it receives the output unless it closes first. */
  private final String starter;
  /** Set by the registry when the starter closed before the session was attached to it. */
  volatile boolean starterGone;
  volatile long pid;
  volatile boolean running = true;
  volatile Integer exitCode;
  volatile String receiver;
  String deploymentId;
  long idleTimer = -1;

  SessionInfo(String sessionId, List<String> command, String starter) {
    this.sessionId = sessionId;
    this.command = command;
    this.starter = starter;
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
