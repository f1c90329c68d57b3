package verticles;

/** Every event-bus address the agent uses. No other class spells an address. */
public final class Addresses {
  /** Run requests. */
  public static final String RUN = "agent.run";
  /** File requests. */
  public static final String FILE = "agent.file";
  /** Shell requests, and notices for the session registry. */
  public static final String SHELL = "agent.shell";
  /** Published with a connection id when that connection closes. */
  public static final String CONN_CLOSED = "agent.conn.closed";
  /** Agent-wide commands such as shutdown. */
  public static final String CONTROL = "agent.control";

  private Addresses() {}

  /** Frames to be written on connection {@code connId}: events, streamed output. */
  public static String conn(String connId) {
    return "agent.conn." + connId;
  }

  /** One PTY session's own consumer: input, resize, close, attach, acknowledgements. */
  public static String session(String sessionId) {
    return "agent.session." + sessionId;
  }

  /** Acknowledgements for one streamed run. */
  public static String runStream(String streamId) {
    return "agent.run.stream." + streamId;
  }
}
