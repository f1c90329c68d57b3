package cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The local terminal, driven through {@code stty} run on our own stdin: whether a descriptor is a
 * terminal, the window size, and raw mode with a guaranteed way back.
 */
final class Terminal {
  private final String saved;
  private final AtomicBoolean restored = new AtomicBoolean();
  private final Thread hook;

  private Terminal(String saved) {
    this.saved = saved;
    this.hook = new Thread(this::restoreNow, "agentctl-restore-terminal");
  }

  /** Whether descriptor 0, 1 or 2 of this process is a terminal. */
  static boolean isTerminal(int fd) {
    try {
      String target = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
      return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty")
          || target.equals("/dev/console");
    } catch (IOException | UnsupportedOperationException e) {
      // No /proc: ask the shell, handing it the descriptor in question.
      ProcessBuilder pb = new ProcessBuilder("sh", "-c", "test -t " + fd);
      if (fd == 0) {
        pb.redirectInput(ProcessBuilder.Redirect.INHERIT);
      } else if (fd == 1) {
        pb.redirectOutput(ProcessBuilder.Redirect.INHERIT);
      } else {
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
      }
      try {
        return pb.start().waitFor() == 0;
      } catch (IOException | InterruptedException ex) {
        return false;
      }
    }
  }

  /** The size of the terminal on stdin as {rows, cols}, or null if it cannot be read. */
  static int[] size() {
    try {
      String[] parts = stty("size").trim().split("\\s+");
      int rows = Integer.parseInt(parts[0]);
      int cols = Integer.parseInt(parts[1]);
      return rows > 0 && cols > 0 ? new int[] {rows, cols} : null;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /**
   * Puts the terminal on stdin in raw mode (no echo, no line editing, no signal keys, no output
   * processing) and returns the way back. The old settings come back on {@link #restore()} and,
   * failing that, when the JVM exits.
   */
  static Terminal raw() throws IOException {
    String saved = stty("-g").trim();
    Terminal t = new Terminal(saved);
    Runtime.getRuntime().addShutdownHook(t.hook);
    stty("raw", "-echo");
    return t;
  }

  void restore() {
    restoreNow();
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // Already shutting down: the hook runs, and finds the work done.
    }
  }

  private void restoreNow() {
    if (restored.compareAndSet(false, true)) {
      try {
        stty(saved);
      } catch (IOException e) {
        System.err.println("agentctl: could not restore the terminal (try 'stty sane'): "
            + e.getMessage());
      }
    }
  }

  private static String stty(String... args) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add("stty");
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.INHERIT)
        .redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (p.waitFor() != 0) {
        throw new IOException("stty " + String.join(" ", args) + " failed");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted");
    }
    return out;
  }
}
