package process;

import com.sun.jna.Library;
import com.sun.jna.Native;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Makes the agent a child subreaper, so that a process that double-forks or calls setsid still
 * comes back to the agent instead of escaping to init, and reaps the orphans it inherits.
 *
 * <p>The JVM waits for the processes it started itself (the JDK for runs, pty4j for terminals);
 * taking their exit status would break them. So every start registers its pid under
 * {@link #spawning()}, and the reaper only waits for zombie children it does not know, while
 * holding the other side of the same lock: a child the JVM is starting is always registered
 * before the reaper can look at it.
 */
public final class Reaper {
  private static final int PR_SET_CHILD_SUBREAPER = 36;
  private static final int WNOHANG = 1;

  private static final ReentrantReadWriteLock LOCK = new ReentrantReadWriteLock();
  private static final Set<Long> OWNED = ConcurrentHashMap.newKeySet();
  private static volatile boolean subreaper;
  private static boolean tried;

  private Reaper() {}

  private interface C extends Library {
    int prctl(int option, long arg2, long arg3, long arg4, long arg5);

    int waitpid(int pid, int[] status, int options);
  }

  private static final class Holder {
    static final C C = Native.load("c", C.class);
  }

  /**
   * Becomes a child subreaper, once; called before the first process is started, so that start-up
   * does not pay for loading the native library. Returns false where the kernel refuses.
   */
  public static synchronized boolean becomeSubreaper() {
    if (!subreaper && !tried) {
      tried = true;
      try {
        subreaper = Holder.C.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
      } catch (LinkageError e) {
        log.Log.warn("subreaper_unavailable", "error", e.getMessage());
      }
    }
    return subreaper;
  }

  public static boolean isSubreaper() {
    return subreaper;
  }

  /** Held (shared) while the JVM starts a child and registers it with {@link #own(long)}. */
  public static ReentrantReadWriteLock.ReadLock spawning() {
    return LOCK.readLock();
  }

  /** A child that the JVM waits for itself. */
  public static void own(long pid) {
    OWNED.add(pid);
  }

  /** The JVM has collected this child's exit status. */
  public static void disown(long pid) {
    OWNED.remove(pid);
  }

  /** Waits for every exited child that the JVM does not wait for. Returns how many. */
  public static int reapOrphans() {
    long self = ProcessHandle.current().pid();
    LOCK.writeLock().lock();
    try {
      int n = 0;
      for (long pid : zombieChildren(self)) {
        if (!OWNED.contains(pid) && Holder.C.waitpid((int) pid, new int[1], WNOHANG) > 0) {
          n++;
        }
      }
      return n;
    } finally {
      LOCK.writeLock().unlock();
    }
  }

  /** Children of {@code parent} that have exited and wait to be reaped, read from /proc. */
  static List<Long> zombieChildren(long parent) {
    List<Long> out = new ArrayList<>();
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : dir) {
        try {
          String s = Files.readString(p.resolve("stat"));
          String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ", 3);
          if (f[0].equals("Z") && Long.parseLong(f[1]) == parent) {
            out.add(Long.parseLong(p.getFileName().toString()));
          }
        } catch (IOException | RuntimeException e) {
          // The process is gone already.
        }
      }
    } catch (IOException e) {
      // No /proc: nothing to reap here.
    }
    return out;
  }
}
