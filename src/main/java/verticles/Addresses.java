package verticles;

import protocol.Request;

/** Every event-bus address the agent uses. No other class spells an address. */
public final class Addresses {
  /** Run requests. */
  public static final String RUN = "agent.run";
  /** File requests. */
  public static final String FILE = "agent.file";
  /** Shell requests that the registry of sessions serves. */
  public static final String SHELL = "agent.shell";
  /** To the registry: a session serves its own address ({@link Messages.SessionListening}). */
  public static final String SESSION_LISTENING = "agent.shell.listening";
  /** To the registry: a session's process has exited ({@link Messages.SessionExited}). */
  public static final String SESSION_EXITED = "agent.shell.exited";
  /** Published with a connection id when that connection closes. */
  public static final String CONN_CLOSED = "agent.conn.closed";
  /** Agent-wide commands such as shutdown. */
  public static final String CONTROL = "agent.control";

  private Addresses() {}

  /** Frames to be written on connection {@code connId}: events, streamed output. */
  public static String conn(String connId) {
    return "agent.conn." + connId;
  }

  /**
   * One PTY session's requests: input, resize, close. Each kind of a session's address has a
   * prefix of its own, so that no session id a host sends can name another kind.
   */
  public static String session(String sessionId) {
    return "agent.session.in." + sessionId;
  }

  /** Acknowledgements of one PTY session's output. */
  public static String sessionAcks(String sessionId) {
    return "agent.session.ack." + sessionId;
  }

  /** Who receives one PTY session's output ({@link Messages.Receiver}). */
  public static String sessionReceiver(String sessionId) {
    return "agent.session.receiver." + sessionId;
  }

  /**
   * Run requests for the {@link RunVerticle} instance on event loop {@code loop}. A connection
   * sends its runs to the instance on its own loop, so that handing a run over and answering it
   * wake no other thread; {@link #RUN} stays the way to reach some instance.
   */
  public static String runOn(Thread loop) {
    return "agent.run.loop." + loop.getName();
  }

  /** Acknowledgements for one streamed run. */
  public static String runStream(String streamId) {
    return "agent.run.stream." + streamId;
  }

  /**
   * Where a request is served: its own {@code address}, and the {@code fallback} that answers it
   * when nobody serves that address (or {@code null}: the failure is the answer).
   */
  record Route(String address, String fallback) {}

  /**
   * The route of request {@code r} from a connection on event loop {@code loop}, or {@code null}
   * for what the connection answers itself. A run goes to the instance on the same loop, and to
   * any instance when none is there. Input and resize go straight to their session; the registry
   * answers those whose session is not (or no longer) there.
   */
  static Route route(Request r, Thread loop) {
    return switch (r.type()) {
      case PING, INFO, SHUTDOWN -> null;
      case RUN -> new Route(runOn(loop), RUN);
      case WRITE_FILE, READ_FILE, REMOVE_FILE, MKDIR, STAT, LIST_DIR, RENAME ->
          new Route(FILE, null);
      case SHELL_INPUT, SHELL_RESIZE ->
          new Route(session(((Request.SessionRequest) r).sessionId()), SHELL);
      case SHELL, SHELL_CLOSE, SHELL_ATTACH, LIST_SESSIONS -> new Route(SHELL, null);
    };
  }
}
