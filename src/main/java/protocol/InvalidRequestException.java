package protocol;

/** A frame that is not a valid request. {@link #id()} is the request's id if it could be read. */
public final class InvalidRequestException extends Exception {
  private final String id;

  public InvalidRequestException(String id, String reason) {
    super(reason, null, false, false);
    this.id = id == null ? "" : id;
  }

  public String id() {
    return id;
  }
}
