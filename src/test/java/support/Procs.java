package support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What tests ask of /proc by command line. */
public final class Procs {
  private Procs() {}

  /**
   * The agent's children but its sentinel (see {@link process.Sentinel}): what runs and sessions
   * started, and what the agent adopted.
   */
  public static java.util.stream.Stream<ProcessHandle> children(long agentPid) {
    return ProcessHandle.of(agentPid).stream().flatMap(ProcessHandle::children)
        .filter(p -> !isSentinel(p.pid()));
  }

  /** The agent's descendants but its sentinel. */
  public static java.util.stream.Stream<ProcessHandle> descendants(long agentPid) {
    return ProcessHandle.of(agentPid).stream().flatMap(ProcessHandle::descendants)
        .filter(p -> !isSentinel(p.pid()));
  }

  /**
   * The agent's live sentinels (a killed one not yet reaped left out): one while it runs, none
   * before its first start.
   */
  public static java.util.stream.Stream<ProcessHandle> sentinels(long agentPid) {
    return ProcessHandle.of(agentPid).stream().flatMap(ProcessHandle::children)
        .filter(p -> isSentinel(p.pid())).filter(p -> {
          process.ProcStat s = process.ProcStat.read(p.pid());
          return s != null && !s.zombie();
        });
  }

  /** Whether {@code pid} is an agent's sentinel, by the name it gives itself. */
  public static boolean isSentinel(long pid) {
    try {
      return Files.readString(Path.of("/proc/" + pid + "/comm")).strip()
          .equals(process.Sentinel.NAME);
    } catch (IOException e) {
      return false;
    }
  }

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
