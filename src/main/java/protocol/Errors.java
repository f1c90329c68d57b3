package protocol;

import java.io.FileNotFoundException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.List;
import process.Launcher;

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
  public static final String CONNECTION_CLOSED = "Connection closed";
  // The path rule (files.PathPolicy).
  public static final String PATH_NOT_ABSOLUTE = "Path must be absolute";
  public static final String INVALID_PATH = "Invalid path";
  public static final String PATH_TRAVERSAL = "Path traversal not allowed";

  private Errors() {}

  /** {@code "Invalid request: <reason>"}: a request that is not one the agent can serve. */
  public static String invalid(String reason) {
    return "Invalid request: " + reason;
  }

  /** {@code "Cannot access system path: <blocked prefix>"}. */
  public static String systemPath(String prefix) {
    return "Cannot access system path: " + prefix;
  }

  /** A whole-file read whose answer would not fit a frame. */
  public static AgentException fileTooLarge(long size) {
    return new AgentException("File too large: " + size
        + " bytes (read it in chunks with offset/length)");
  }

  /** An answer of {@code bytes} that does not fit a frame, and has no smaller form. */
  public static String responseTooLarge(long bytes) {
    return "Response too large: " + bytes + " bytes (max " + Frames.MAX_FRAME + ")";
  }

  /** Decodes a base64 field; malformed text is the wire's {@link #INVALID_BASE64} error. */
  public static byte[] base64(String text) {
    try {
      return java.util.Base64.getDecoder().decode(text);
    } catch (IllegalArgumentException e) {
      throw failed(INVALID_BASE64, e.getMessage());
    }
  }

  /** {@code "<prefix>: <reason of cause>"}. */
  public static AgentException failed(String prefix, Throwable cause) {
    return new AgentException(prefix + ": " + reason(cause));
  }

  /** {@code "<prefix>: <reason>"}. */
  public static AgentException failed(String prefix, String reason) {
    return new AgentException(prefix + ": " + reason);
  }

  /**
   * {@code "Failed to run command: <program>: <reason>"}, or {@code "...: cwd <dir>: <reason>"}
   * when the directory to run in is what is missing (the spawn reports both as ENOENT).
   */
  public static AgentException runFailed(List<String> command, String cwd, Throwable cause) {
    String subject = cwd != null && !Launcher.isDirectory(cwd) ? "cwd " + cwd : command.get(0);
    return new AgentException(RUN_FAILED + ": " + subject + ": " + reason(cause));
  }

  /**
   * {@code "Failed to start shell: <program>: <reason>"}. The terminal library cannot say why an
   * exec failed, so the program is looked up here, along {@code path} (the session's PATH), to
   * name the reason.
   */
  public static AgentException shellFailed(List<String> command, String path, Throwable cause) {
    String program = command.get(0);
    String why = missingProgram(program, path);
    if (why == null) {
      String r = reason(cause);
      return new AgentException(SHELL_FAILED + ": "
          + (r.startsWith("No such directory") ? r : program + ": " + r));
    }
    return new AgentException(SHELL_FAILED + ": " + program + ": " + why);
  }

  /** Why {@code program} cannot be executed, or null when it looks executable. */
  static String missingProgram(String program, String path) {
    try {
      return lookUp(program, path);
    } catch (InvalidPathException e) {
      return "No such file or directory";
    }
  }

  private static String lookUp(String program, String path) {
    if (program.contains("/")) {
      Path p = Path.of(program);
      if (!Files.exists(p)) {
        return "No such file or directory";
      }
      if (Files.isDirectory(p)) {
        return "Is a directory";
      }
      return Files.isExecutable(p) ? null : "Permission denied";
    }
    for (String dir : (path == null ? "" : path).split(":")) {
      if (!dir.isEmpty()) {
        Path p = Path.of(dir, program);
        if (Files.isRegularFile(p) && Files.isExecutable(p)) {
          return null;
        }
      }
    }
    return "command not found in PATH " + path;
  }

  /** A fixed message with no reason, such as {@link #NO_PATH}. */
  public static AgentException plain(String message) {
    return new AgentException(message);
  }

  /** A limit was reached: {@code "Busy: <which>"}. */
  public static AgentException busy(String which) {
    return new AgentException("Busy: " + which, true);
  }

  public static AgentException sessionNotFound(String prefix, String sessionId) {
    return new AgentException(prefix + ": Session not found: " + sessionId);
  }

  public static String frameTooLarge(long length) {
    return "Frame too large: " + length + " bytes (max " + Frames.MAX_FRAME + ")";
  }

  /** The response for any failure of request {@code id}. */
  public static Response toResponse(String id, Throwable t) {
    if (t instanceof AgentException e) {
      Response r = Response.error(id, e.getMessage());
      return e.busy() ? r.busy() : r;
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
    if (t instanceof LinkageError) {
      // JNA's or another library's native part did not load (its unpacking refused, say).
      return "native code unavailable to the agent (" + t.getClass().getSimpleName()
          + (m == null || m.isBlank() ? "" : ": " + m) + ")";
    }
    return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
  }
}
