package support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What tests ask of /proc by command line. */
public final class Procs {
  private Procs() {}

  /** Whether a process with exactly this command line is alive. */
  public static boolean running(String... argv) {
    String want = String.join("\0", argv) + "\0";
    try (var s = Files.list(Path.of("/proc"))) {
      return s.filter(p -> p.getFileName().toString().matches("\\d+")).anyMatch(p -> {
        try {
          return new String(Files.readAllBytes(p.resolve("cmdline"))).equals(want);
        } catch (IOException e) {
          return false;
        }
      });
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
