package process;

import com.sun.jna.Memory;
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
 * <p>With the native engine every child is the agent's own, and each exit is taken on notice from
 * the kernel, never on a timer. A started child is {@linkplain #watch watched} through a pidfd in
 * the {@link Reactor}, which collects its exit code when the pidfd says it has exited, along with
 * the end of its pipes, so a run wakes no thread of its own for its exit. Orphans the agent
 * inherits have no pidfd: one thread waits in {@code waitpid(-1)} for them, and it is woken only
 * while the agent has a child nobody watches. That can be so only after a watched child exited (a
 * process the agent adopts is a descendant of one of its children, and comes to the agent when its
 * parent dies), so the reactor asks, after each exit it collects, whether any child is left, and
 * wakes that thread if one is. Awake, the thread takes whichever child exits, watched or not, until
 * none is left. A child is registered while {@link #spawning()} is held, and the waiting thread
 * looks a pid up holding the other side of the same lock, so a child that exits at once is never
 * taken for an orphan. Where the kernel has no pidfds (before Linux 5.3), that thread waits for
 * every child.
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
  /** Set by {@link #wake()}: the waiting thread must look for children again before it parks. */
  private static final java.util.concurrent.atomic.AtomicBoolean WOKEN =
      new java.util.concurrent.atomic.AtomicBoolean();
  private static volatile Thread waiter;
  /**
   * False once the kernel refused a pidfd for want of the call itself, or from the start with
   * {@code -Dagent.pidfd=false} (which shows how an agent behaves on such a kernel).
   */
  private static volatile boolean pidfds = !"false".equals(System.getProperty("agent.pidfd"));
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

  /** Held (shared) while the JVM starts a child and registers it with {@link #own(long)}. */
  public static ReentrantReadWriteLock.ReadLock spawning() {
    return LOCK.readLock();
  }

  /**
   * Native engine: {@code onExit} hears the exit code (128 + N after signal N) of child
   * {@code pid}, on the reactor thread or the waiting thread. Call while holding
   * {@link #spawning()}.
   */
  static void watch(int pid, java.util.function.IntConsumer onExit) {
    WATCHED.put(pid, onExit);
    if (!pidfds || !watchExit(pid)) {
      wake();
    }
  }

  /**
   * Puts a pidfd for {@code pid} in the reactor; false where there is none to put, so the waiting
   * thread must take this exit.
   */
  private static boolean watchExit(int pid) {
    int fd = (int) LibC.syscall(LibC.SYS_PIDFD_OPEN, pid, 0);
    if (fd < 0) {
      int errno = LibC.errno();
      if (errno == LibC.ENOSYS) {
        pidfds = false;
        log.Log.info("pidfd_unavailable", "detail", "exits are taken by one waiting thread");
      }
      return false;
    }
    Reactor reactor = Reactor.get();
    try {
      reactor.registerFrom(fd, LibC.EPOLLIN, events -> exitNoticed(reactor, fd, pid));
      return true;
    } catch (IllegalStateException e) {
      LibC.close(fd);
      return false;
    }
  }

  /** What waitid writes; used on the reactor thread only, made on first use (JNA may be missing). */
  private static final class Siginfo {
    static final Memory BUFFER = new Memory(LibC.SIGINFO_SIZE);
  }

  /** Reactor thread: the pidfd of child {@code pid} says it has exited. */
  private static void exitNoticed(Reactor reactor, int fd, int pid) {
    Memory info = Siginfo.BUFFER;
    info.setInt(16, 0);
    int rc = LibC.waitid(LibC.P_PIDFD, fd, info, LibC.WEXITED | LibC.WNOHANG);
    int code = rc == 0 ? LibC.exitCode(info) : -1;
    if (rc != 0 && LibC.errno() == LibC.EINVAL) {
      // Linux 5.3 opens pidfds but cannot wait on one: by pid, and by the waiting thread after.
      pidfds = false;
      int[] status = new int[1];
      code = LibC.waitpid(pid, status, LibC.WNOHANG) == pid ? LibC.exitCode(status[0]) : -1;
    }
    if (rc == 0 && code < 0) {
      // Not exited after all: keep waiting.
      return;
    }
    reactor.close(fd);
    if (code >= 0) {
      told(WATCHED.remove(pid), code);
    }
    // Otherwise the waiting thread took it first, and told its watcher. Either way the exit may
    // have left orphans to the agent: whether any child is left is asked without reaping.
    if (LibC.waitid(LibC.P_ALL, 0, info, LibC.WEXITED | LibC.WNOHANG | LibC.WNOWAIT) == 0) {
      wake();
    }
  }

  /** Makes the waiting thread wait for children until none is left; starts it the first time. */
  private static void wake() {
    Thread t = waiter;
    if (t == null) {
      synchronized (Reaper.class) {
        if (waiter == null) {
          waiter = Threads.start("process-reaper", Threads.SMALL_STACK, Reaper::waitLoop);
        }
        t = waiter;
      }
    }
    if (!WOKEN.getAndSet(true)) {
      java.util.concurrent.locks.LockSupport.unpark(t);
    }
  }

  private static void told(java.util.function.IntConsumer onExit, int code) {
    if (onExit != null) {
      try {
        onExit.accept(code);
      } catch (RuntimeException e) {
        log.Log.error("reaper_error", "error", String.valueOf(e));
      }
    }
  }

  /**
   * Waits for any child; parks while the agent has none, until {@link #wake()}. The kernel wakes
   * this thread when a child exits: there is no polling.
   */
  private static void waitLoop() {
    int[] status = new int[1];
    while (true) {
      int pid = LibC.waitpid(-1, status, 0);
      if (pid > 0) {
        java.util.function.IntConsumer onExit;
        LOCK.writeLock().lock();
        try {
          onExit = WATCHED.remove(pid);
        } finally {
          LOCK.writeLock().unlock();
        }
        told(onExit, LibC.exitCode(status[0]));
        continue;
      }
      if (LibC.errno() == LibC.ECHILD && !WOKEN.getAndSet(false)) {
        // No child at all: nothing can be adopted either until a watched child exits.
        java.util.concurrent.locks.LockSupport.park();
      }
    }
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
    if (NativeSpawn.available()) {
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
