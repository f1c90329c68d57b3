package protocol;

import java.util.List;
import java.util.Map;

/**
 * One request, typed. Absent fields are null. Base64 fields stay encoded here: decoding them is
 * the handler's job, because a bad encoding has its own error text in the contract.
 */
public record Request(
    String id,
    RequestType type,
    List<String> command,
    String cwd,
    Map<String, String> env,
    String path,
    String contentBase64,
    Boolean recursive,
    String sessionId,
    Integer rows,
    Integer cols,
    String inputBase64,
    // Additions (protocol.md part 2).
    Long timeoutMs,
    String stdinBase64,
    Long maxOutputBytes,
    OutputEncoding outputEncoding,
    Boolean stream,
    Long offset,
    Long length,
    Boolean append,
    Integer mode,
    String newPath,
    String authToken,
    Boolean killLeftovers) {

  /** How a run's output is carried in its response. */
  public enum OutputEncoding {
    UTF8,
    BASE64
  }

  public boolean isRecursive() {
    return Boolean.TRUE.equals(recursive);
  }

  public boolean isStream() {
    return Boolean.TRUE.equals(stream);
  }

  /** {@code run}: end what the command left running once it is answered. */
  public boolean isKillLeftovers() {
    return Boolean.TRUE.equals(killLeftovers);
  }

  public boolean isAppend() {
    return Boolean.TRUE.equals(append);
  }

  public int rowsOrDefault() {
    return rows == null ? 24 : rows;
  }

  public int colsOrDefault() {
    return cols == null ? 80 : cols;
  }
}
