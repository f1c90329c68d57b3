package verticles;

import java.util.List;

/** What the registry knows of one session. Written by the session, read by the registry. */
final class SessionInfo {
  private final String sessionId;
  private final List<String> command;
  volatile long pid;
  volatile boolean running = true;
  volatile Integer exitCode;
  volatile String receiver;
  String deploymentId;
  long idleTimer = -1;

  SessionInfo(String sessionId, List<String> command) {
    this.sessionId = sessionId;
    this.command = command;
  }

  String sessionId() {
    return sessionId;
  }

  List<String> command() {
    return command;
  }
}
