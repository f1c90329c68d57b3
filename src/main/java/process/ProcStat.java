package process;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * One line of {@code /proc/PID/stat}, the fields the agent and its tests use. The command name
 * stands in parentheses and may itself hold spaces and parentheses, so the fields are counted
 * from the last {@code ')'}.
 *
 * @param comm the command name, without its parentheses
 * @param state R, S, D, Z, T, ...
 * @param cminflt page faults of the children it waited for: non-zero once it has reaped one
 * @param utime user CPU time, in clock ticks
 * @param stime system CPU time, in clock ticks
 * @param startTime when it started, in clock ticks after boot: tells it apart from a later
 *     process with the same pid
 * @param envStart where its environment starts in its memory: 0 while an exec is still setting
 *     up the new program (and for a zombie), -1 where the kernel does not say
 */
public record ProcStat(long pid, String comm, char state, long ppid, long pgrp, long session,
    long cminflt, long utime, long stime, long startTime, long envStart) {

  /** Fields after the command name, counted from 0 (the state). */
  private static final int PPID = 1;
  private static final int PGRP = 2;
  private static final int SESSION = 3;
  private static final int CMINFLT = 8;
  private static final int UTIME = 11;
  private static final int STIME = 12;
  private static final int START_TIME = 19;
  private static final int ENV_START = 47;

  public boolean zombie() {
    return state == 'Z';
  }

  /** Parses a stat line; throws IllegalArgumentException where it is not one. */
  public static ProcStat parse(String line) {
    int open = line.indexOf('(');
    int close = line.lastIndexOf(')');
    if (open <= 0 || close < open || close + 3 > line.length()) {
      throw new IllegalArgumentException("not a /proc/PID/stat line: " + line);
    }
    long pid = Long.parseLong(line, 0, open - 1, 10);
    char state = line.charAt(close + 2);
    long[] f = new long[ENV_START + 1];
    f[ENV_START] = -1;
    int at = close + 4;
    for (int i = PPID; i <= ENV_START; i++) {
      int end = line.indexOf(' ', at);
      if (end < 0) {
        end = line.length();
        while (end > at && Character.isWhitespace(line.charAt(end - 1))) {
          end--;
        }
      }
      if (at >= end) {
        if (i > START_TIME) {
          // An older kernel's shorter line: the fields after start_time are optional.
          break;
        }
        throw new IllegalArgumentException("short /proc/PID/stat line: " + line);
      }
      if (i <= START_TIME || i == ENV_START) {
        // Only the fields kept are parsed: some between them (rsslim) do not fit a long.
        f[i] = Long.parseLong(line, at, end, 10);
      }
      at = end + 1;
    }
    return new ProcStat(pid, line.substring(open + 1, close), state, f[PPID], f[PGRP],
        f[SESSION], f[CMINFLT], f[UTIME], f[STIME], f[START_TIME], f[ENV_START]);
  }

  /** The stat of {@code pid}, or null when it is gone (or /proc cannot be read). */
  public static ProcStat read(long pid) {
    return read(Path.of("/proc", Long.toString(pid), "stat"));
  }

  private static ProcStat read(Path stat) {
    try {
      return parse(Files.readString(stat));
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /**
   * One pass over /proc: {@code each} hears every process that could be read. Nothing where
   * /proc is absent.
   */
  public static void scan(Consumer<ProcStat> each) {
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : dir) {
        ProcStat s = read(p.resolve("stat"));
        if (s != null) {
          each.accept(s);
        }
      }
    } catch (IOException | RuntimeException e) {
      // No /proc: nothing can be found this way.
    }
  }
}
