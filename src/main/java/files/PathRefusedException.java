package files;

/**
 * Thrown by {@link PathPolicy#resolve} when a path is not allowed. The message is the
 * exact error string to send back to the host.
 */
public final class PathRefusedException extends Exception {
  private static final long serialVersionUID = 1L;

  public PathRefusedException(String message) {
    super(message);
  }
}
