package cli;

import client.AgentError;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.Locale;

/**
 * agentctl's one-line error texts. The agent's errors keep their wire prefix (docs/protocol.md)
 * and subject, with the request's field names turned into agentctl's flags; local failures name
 * the local file and the system's reason.
 */
final class Failures {
  private Failures() {}

  static String describe(Throwable e) {
    if (e instanceof AgentError) {
      return inOurWords(e.getMessage());
    }
    if (e instanceof FileSystemException f) {
      return f.getFile() + ": " + reason(f);
    }
    if (e instanceof IOException) {
      return e.getMessage() == null ? e.toString() : e.getMessage();
    }
    return e.toString();
  }

  /** The system's reason for a local failure, without the file's name. */
  static String reason(FileSystemException f) {
    if (f instanceof NoSuchFileException) {
      return "no such file or directory";
    }
    if (f instanceof AccessDeniedException) {
      return "permission denied";
    }
    return f.getReason() == null ? f.getClass().getSimpleName()
        : f.getReason().toLowerCase(Locale.ROOT);
  }

  /** The agent's text with its request fields named as agentctl's flags. */
  static String inOurWords(String message) {
    return message.replace("(use recursive)", "(use rm -r)");
  }
}
