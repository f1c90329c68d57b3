package protocol;

import java.io.FileNotFoundException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * The one place where failures become wire error strings. The prefixes are the contract
 * (protocol.md); the reason after the colon is free text.
 */
public final class Errors {
  public static final String NO_COMMAND = "No command specified";
  public static final String EMPTY_COMMAND = "Empty command";
  public static final String RUN_FAILED = "Failed to run command";
  public static final String NO_PATH = "No path specified";
  public static final String NO_NEW_PATH = "No new_path specified";
  public static final String NO_CONTENT = "No content specified";
  public static final String INVALID_BASE64 = "Invalid base64";
  public static final String CREATE_PARENT_FAILED = "Failed to create parent directory";
  public static final String WRITE_FAILED = "Failed to write file";
  public static final String READ_FAILED = "Failed to read file";
  public static final String REMOVE_FAILED = "Failed to remove file";
  public static final String MKDIR_FAILED = "Failed to create directory";
  public static final String STAT_FAILED = "Failed to stat file";
  public static final String LIST_FAILED = "Failed to list directory";
  public static final String RENAME_FAILED = "Failed to rename file";
  public static final String SHELL_FAILED = "Failed to start shell";
  public static final String NO_SESSION = "No session_id specified";
  public static final String NO_INPUT = "No input specified";
  public static final String INPUT_FAILED = "Failed to write to session";
  public static final String RESIZE_FAILED = "Failed to resize session";
  public static final String CLOSE_FAILED = "Failed to close session";
  public static final String ATTACH_FAILED = "Failed to attach session";
  public static final String UNAUTHORIZED = "Unauthorized";

  private Errors() {}

  /** {@code "<prefix>: <reason of cause>"}. */
  public static AgentException failed(String prefix, Throwable cause) {
    return new AgentException(prefix + ": " + reason(cause));
  }

  /** {@code "<prefix>: <reason>"}. */
  public static AgentException failed(String prefix, String reason) {
    return new AgentException(prefix + ": " + reason);
  }

  /** A fixed message with no reason, such as {@link #NO_PATH}. */
  public static AgentException plain(String message) {
    return new AgentException(message);
  }

  /** A limit was reached: {@code "Busy: <which>"}. */
  public static AgentException busy(String which) {
    return new AgentException("Busy: " + which);
  }

  public static AgentException sessionNotFound(String prefix, String sessionId) {
    return new AgentException(prefix + ": Session not found: " + sessionId);
  }

  public static String frameTooLarge(long length) {
    return "Frame too large: " + length + " bytes (max " + Frames.MAX_FRAME + ")";
  }

  /** The response for any failure of request {@code id}. */
  public static Response toResponse(String id, Throwable t) {
    if (t instanceof AgentException) {
      return Response.error(id, t.getMessage());
    }
    return Response.error(id, "Internal error: " + reason(t));
  }

  /** A short human reason for an exception, in the words of the operating system where known. */
  public static String reason(Throwable t) {
    if (t instanceof NoSuchFileException e) {
      return "No such file or directory: " + e.getFile();
    }
    if (t instanceof AccessDeniedException e) {
      return "Permission denied: " + e.getFile();
    }
    if (t instanceof FileAlreadyExistsException e) {
      return "File exists: " + e.getFile();
    }
    if (t instanceof DirectoryNotEmptyException e) {
      return "Directory not empty: " + e.getFile();
    }
    if (t instanceof NotDirectoryException e) {
      return "Not a directory: " + e.getFile();
    }
    if (t instanceof FileSystemException e && e.getReason() != null) {
      return e.getReason() + ": " + e.getFile();
    }
    if (t instanceof FileNotFoundException && t.getMessage() != null) {
      return t.getMessage();
    }
    String m = t.getMessage();
    return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
  }
}
