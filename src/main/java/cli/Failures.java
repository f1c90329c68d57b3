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
    if (e instanceof NoSuchFileException f) {
      return f.getFile() + ": no such file or directory";
    }
    if (e instanceof AccessDeniedException f) {
      return f.getFile() + ": permission denied";
    }
    if (e instanceof FileSystemException f) {
      String reason = f.getReason() == null ? f.getClass().getSimpleName()
          : f.getReason().toLowerCase(Locale.ROOT);
      return f.getFile() + ": " + reason;
    }
    if (e instanceof IOException) {
      return e.getMessage() == null ? e.toString() : e.getMessage();
    }
    return e.toString();
  }

  /** The agent's text with its request fields named as agentctl's flags. */
  static String inOurWords(String message) {
    return message.replace("(use recursive)", "(use rm -r)");
  }
}
