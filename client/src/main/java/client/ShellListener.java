package client;

/**
 * Receives a session's terminal output, on the client's reading thread and in order. The end of
 * the session is reported through {@link ShellSession#exited()}, after the last output.
 */
@FunctionalInterface
public interface ShellListener {
  void output(byte[] data);

  /** Output the agent had to drop while nobody was attached (its backlog overflowed). */
  default void dropped(long bytes) {}
}
