package protocol;

/** A request that failed; {@link #getMessage()} is the exact error text sent to the host. */
public final class AgentException extends RuntimeException {
  public AgentException(String wireMessage) {
    super(wireMessage, null, false, false);
  }
}
