package process;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import sys.LibC;
import sys.Threads;

/**
 * Makes the agent a child subreaper, so that a process that double-forks or calls setsid still
 * comes back to the agent instead of escaping to init, and reaps the orphans it inherits.
 *
 * <p>With the native engine every child is the agent's own: one thread waits in
 * {@code waitpid(-1)} for whichever child exits, started or adopted, and is woken by the kernel
 * when one does, never by a timer. A started child's exit goes to the callback it was
 * {@linkplain #watch registered} with; an adopted orphan is simply reaped. A child is registered
 * while {@link #spawning()} is held, and the reaper looks a pid up holding the other side of the
 * same lock, so a child that exits at once is never taken for an orphan.
 *
 * <p>With the fallback engine the JVM waits for the processes it started itself (the JDK for runs,
 * pty4j for terminals), and taking their exit status would break them. Those are
 * {@linkplain #own registered} instead, and {@link #reapOrphans()} waits only for zombie children
 * it does not know; it runs whenever one of the JVM's own children exits.
 */
public final class Reaper {
  private static final ReentrantReadWriteLock LOCK = new ReentrantReadWriteLock();
  private static final Set<Long> OWNED = ConcurrentHashMap.newKeySet();
  private static final java.util.Map<Integer, java.util.function.IntConsumer> WATCHED =
      new ConcurrentHashMap<>();
  private static final java.util.concurrent.atomic.AtomicBoolean SPAWNED =
      new java.util.concurrent.atomic.AtomicBoolean();
  /**
   * The spawning threads (by tid) in a native spawn now, each with its spawn's number; guarded by
   * itself. A child that exits before its spawn has registered it is still listed in its spawning
   * thread's children.
   */
  private static final java.util.Map<Integer, Long> SPAWNING = new java.util.HashMap<>();
  /** Guarded by {@link #SPAWNING}. */
  private static long spawns;
  private static volatile Thread waiter;
  private static volatile boolean subreaper;
  private static boolean tried;

  private Reaper() {}

  /**
   * Becomes a child subreaper, once; called before the first process is started, so that start-up
   * does not pay for loading the native library. Returns false where the kernel refuses.
   */
  public static synchronized boolean becomeSubreaper() {
    if (!subreaper && !tried) {
      tried = true;
      try {
        subreaper = LibC.prctl(LibC.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
      } catch (LinkageError e) {
        log.Log.warn("subreaper_unavailable", "error", e.getMessage());
      }
    }
    return subreaper;
  }

  public static boolean isSubreaper() {
    return subreaper;
  }

  /**
   * Fallback engine: held (shared) while the JVM starts a child and registers it with
   * {@link #own(long)}.
   */
  public static ReentrantReadWriteLock.ReadLock spawning() {
    return LOCK.readLock();
  }

  /**
   * Native engine: thread {@code tid} starts a spawn. Nothing is held while it lasts, so a spawn
   * that never ends (its exec waits on a file system that hangs) stops no other spawn and no
   * exit.
   */
  static void spawnStarting(int tid) {
    synchronized (SPAWNING) {
      SPAWNING.put(tid, ++spawns);
    }
  }

  /** How many native spawns have begun since the agent started; read once per quiet check. */
  static long spawns() {
    synchronized (SPAWNING) {
      return spawns;
    }
  }

  /** Thread {@code tid}'s spawn has ended, and its child (if any) is {@link #watch watched}. */
  static void spawnEnded(int tid) {
    synchronized (SPAWNING) {
      SPAWNING.remove(tid);
      SPAWNING.notifyAll();
    }
  }

  /**
   * Native engine: {@code onExit} hears the exit code (128 + N after signal N) of child
   * {@code pid}, on the reaper thread. Call before the spawn that started it ends.
   */
  static void watch(int pid, java.util.function.IntConsumer onExit) {
    WATCHED.put(pid, onExit);
    Thread t = waiter;
    if (t == null) {
      synchronized (Reaper.class) {
        if (waiter == null) {
          waiter = Threads.start("process-reaper", Threads.SMALL_STACK, Reaper::waitLoop);
        }
        t = waiter;
      }
    }
    if (!SPAWNED.getAndSet(true)) {
      java.util.concurrent.locks.LockSupport.unpark(t);
    }
  }

  /**
   * Whether {@code pid} is a child the agent started and has not reaped yet: while that holds, the
   * number cannot belong to another process.
   */
  static boolean unreaped(long pid) {
    return WATCHED.containsKey((int) pid) || OWNED.contains(pid);
  }

  /** Whether the native reaper runs (then it reaps every child, orphans included). */
  public static boolean nativeReaping() {
    return waiter != null;
  }

  /**
   * Waits for any child; parks while the agent has none, until the next start (with the
   * {@link Sentinel} running, it always has one). The kernel wakes this thread when a child exits:
   * there is no polling. A child is looked at before it is reaped, so that one whose spawn has not
   * registered it yet is left until it has.
   */
  private static void waitLoop() {
    int[] status = new int[1];
    byte[] info = new byte[128];
    Sentinel.ensure();
    while (true) {
      if (LibC.waitid(LibC.P_ALL, 0, info, LibC.WEXITED | LibC.WNOWAIT) != 0) {
        if (LibC.errno() == LibC.ECHILD) {
          // No child at all, not even the sentinel: start it again if it may be, or park, since
          // nothing can be adopted either until something is started.
          Sentinel.ensure();
          if (!Sentinel.running() && !SPAWNED.getAndSet(false)) {
            java.util.concurrent.locks.LockSupport.park();
          }
        }
        continue;
      }
      int pid = (info[16] & 0xff) | (info[17] & 0xff) << 8 | (info[18] & 0xff) << 16
          | (info[19] & 0xff) << 24;
      if (!Sentinel.is(pid)) {
        awaitItsSpawn(pid);
      }
      if (LibC.waitpid(pid, status, LibC.WNOHANG) != pid) {
        // Reaped meanwhile by the C library: a spawn that failed waits for its own child.
        continue;
      }
      if (Sentinel.reaped(pid)) {
        continue;
      }
      java.util.function.IntConsumer onExit = WATCHED.remove(pid);
      if (onExit != null) {
        try {
          onExit.accept(LibC.exitCode(status[0]));
        } catch (RuntimeException e) {
          log.Log.error("reaper_error", "error", String.valueOf(e));
        }
      }
    }
  }

  /**
   * If child {@code pid} is not watched, and a spawn under way may have started it (it is among
   * the children of a thread that spawns now), waits until that spawn has ended: it ends soon,
   * since its child has exited. Otherwise the child is an orphan the agent adopted.
   */
  private static void awaitItsSpawn(int pid) {
    if (WATCHED.containsKey(pid)) {
      return;
    }
    java.util.Map<Integer, Long> now;
    synchronized (SPAWNING) {
      now = new java.util.HashMap<>(SPAWNING);
    }
    for (var spawn : now.entrySet()) {
      int tid = spawn.getKey();
      if (isChildOf(pid, tid)) {
        // Only that spawn is waited for, not a later one of the same thread, which may never
        // end. Once it has, the child is watched, or that spawn failed without registering it:
        // it is reaped either way.
        synchronized (SPAWNING) {
          while (spawn.getValue().equals(SPAWNING.get(tid)) && !WATCHED.containsKey(pid)) {
            try {
              SPAWNING.wait();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
              return;
            }
          }
        }
        return;
      }
    }
  }

  /** Whether thread {@code tid} of the agent lists {@code pid} among its children. */
  private static boolean isChildOf(int pid, int tid) {
    byte[] b;
    try {
      b = java.nio.file.Files.readAllBytes(
          java.nio.file.Path.of("/proc/self/task/" + tid + "/children"));
    } catch (java.io.IOException e) {
      return false;
    }
    long n = -1;
    for (byte c : b) {
      if (c >= '0' && c <= '9') {
        n = (n < 0 ? 0 : n * 10) + (c - '0');
      } else {
        if (n == pid) {
          return true;
        }
        n = -1;
      }
    }
    return n == pid;
  }

  /** A child that the JVM waits for itself. */
  public static void own(long pid) {
    OWNED.add(pid);
  }

  /** The JVM has collected this child's exit status. */
  public static void disown(long pid) {
    OWNED.remove(pid);
  }

  /**
   * Fallback engine: waits for every exited child that the JVM does not wait for. Returns how
   * many. With the native engine the reaper thread does this as children exit.
   */
  public static int reapOrphans() {
    if (waiter != null) {
      return 0;
    }
    long self = ProcessHandle.current().pid();
    LOCK.writeLock().lock();
    try {
      int n = 0;
      for (long pid : zombieChildren(self)) {
        if (!OWNED.contains(pid) && LibC.waitpid((int) pid, new int[1], LibC.WNOHANG) > 0) {
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
    ProcStat.scan(p -> {
      if (p.zombie() && p.ppid() == parent) {
        out.add(p.pid());
      }
    });
    return out;
  }
}
