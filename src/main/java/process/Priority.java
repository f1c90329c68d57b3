package process;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.Stream;
import log.Log;
import sys.LibC;

/**
 * The agent's threads run under {@code SCHED_RR} at a low real-time priority, and the processes
 * it starts under normal scheduling: a VM full of busy processes (a build, a flood, a loop) then
 * still gets its requests answered, its timeouts and kills on time, and its shutdown within its
 * bound, where a normal thread would get one share among hundreds. Linux keeps 5 % of each CPU
 * for normal threads however busy real-time ones are ({@code sched_rt_runtime_us}).
 *
 * <p>Raised once, at the first spawn of the native engine (the threads that exist then are set
 * one by one; a thread inherits its creator's policy); the fallback engine, whose children
 * could inherit it, never raises it. Needs root (CAP_SYS_NICE); without it the agent logs so and
 * keeps normal scheduling.
 */
public final class Priority {
  static final int SCHED_OTHER = 0;
  static final int SCHED_RR = 2;
  /** The thread has ended since it was listed. */
  private static final int ESRCH = 3;

  private static volatile int configured;
  private static Boolean raised;

  private Priority() {}

  /** The {@code realtime_priority} key: 1-99, or 0 to leave scheduling alone. */
  public static void configure(int priority) {
    configured = priority;
  }

  /**
   * Raises every thread of the agent to the configured priority, the first time only. Returns
   * whether the agent's threads are real-time, so that children must be set back.
   */
  static synchronized boolean raise() {
    if (raised == null) {
      raised = configured > 0 && raiseAll(configured);
    }
    return raised;
  }

  private static boolean raiseAll(int priority) {
    int[] param = {priority};
    Set<Integer> done = new HashSet<>();
    // Until a pass finds no thread it has not set: one started during a pass by a thread not
    // yet set would otherwise keep normal scheduling.
    while (true) {
      int added = 0;
      for (int tid : threads()) {
        if (!done.add(tid)) {
          continue;
        }
        added++;
        if (LibC.sched_setscheduler(tid, SCHED_RR, param) != 0) {
          int errno = LibC.errno();
          if (errno != ESRCH) {
            Log.warn("realtime_unavailable", "priority", priority, "error",
                LibC.strerror(errno));
            return false;
          }
        }
      }
      if (added == 0) {
        Log.info("realtime_priority", "policy", "SCHED_RR", "priority", priority, "threads",
            done.size());
        return true;
      }
    }
  }

  private static int[] threads() {
    try (Stream<Path> s = Files.list(Path.of("/proc/self/task"))) {
      return s.mapToInt(p -> Integer.parseInt(p.getFileName().toString())).toArray();
    } catch (IOException e) {
      return new int[0];
    }
  }
}
