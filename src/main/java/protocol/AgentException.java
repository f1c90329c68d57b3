package protocol;

/** A request that failed; {@link #getMessage()} is the exact error text sent to the host. */
public final class AgentException extends RuntimeException {
  private final boolean busy;

  public AgentException(String wireMessage) {
    this(wireMessage, false);
  }

  /** {@code busy}: a limit was reached, and the same request may succeed later. */
  AgentException(String wireMessage, boolean busy) {
    super(wireMessage, null, false, false);
    this.busy = busy;
  }

  public boolean busy() {
    return busy;
  }
}
