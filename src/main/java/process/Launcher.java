package process;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import sys.Threads;

/**
 * The one way the agent starts a process, with pipes ({@link RunProcess}) or on a terminal
 * ({@link Terminal}), and the engine that watches it.
 *
 * <p>The native engine starts a run on the thread that asks for it where nothing there can wait
 * (see {@link #startsOnCaller()}), and every other start on a small pool; it waits on every pipe
 * and terminal in one {@link Reactor} thread, and on every exit in one {@link Reaper} thread: the
 * thread count does not grow with the processes in flight. Where native spawning is
 * unavailable, the fallback uses {@link ProcessBuilder} and pty4j, with threads per process.
 */
public final class Launcher {
  private static final List<SpawnListener> LISTENERS = new CopyOnWriteArrayList<>();

  /** Spawning blocks the caller until the child has exec'd: a few threads do it, no more. */
  static final ExecutorService SPAWN = SpawnPool.create(spawnThreads());

  private Launcher() {}

  /** What a spawning thread does for a caller that waits: one spawn. */
  interface SpawnCall<T> {
    T call() throws IOException;
  }

  /**
   * Runs {@code spawn} on a spawning thread and waits for it, so that only those few threads ever
   * spawn. The wait is not cut short by an interrupt: the process may have started already.
   */
  static <T> T onSpawningThread(SpawnCall<T> spawn) throws IOException {
    if (SpawnPool.NAME.equals(Thread.currentThread().getName())) {
      // On one already (a session's start is run there whole).
      return spawn.call();
    }
    java.util.concurrent.CompletableFuture<T> done = new java.util.concurrent.CompletableFuture<>();
    SPAWN.execute(() -> {
      try {
        done.complete(spawn.call());
      } catch (IOException | RuntimeException | Error e) {
        done.completeExceptionally(e);
      }
    });
    boolean interrupted = false;
    try {
      while (true) {
        try {
          return done.get();
        } catch (InterruptedException e) {
          interrupted = true;
        } catch (java.util.concurrent.ExecutionException e) {
          Throwable cause = e.getCause();
          if (cause instanceof IOException io) {
            throw io;
          }
          if (cause instanceof RuntimeException re) {
            throw re;
          }
          throw (Error) cause;
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static int spawnThreads() {
    return Math.max(1, Math.min(2, Runtime.getRuntime().availableProcessors()));
  }

  /** Adds a listener told of every spawned pid (see {@link SpawnListener}). */
  public static void addSpawnListener(SpawnListener l) {
    LISTENERS.add(l);
  }

  /** Called once per started process, on the spawning thread. */
  static void spawned(long pid, String tag) {
    for (SpawnListener l : LISTENERS) {
      try {
        l.spawned(pid, tag);
      } catch (RuntimeException e) {
        log.Log.warn("spawn_listener_failed", "pid", pid, "error", String.valueOf(e));
      }
    }
  }

  /** Whether a listener wants the process for {@code tag} placed before its exec. */
  static boolean placesEarly(String tag) {
    for (SpawnListener l : LISTENERS) {
      if (l.placesEarly(tag)) {
        return true;
      }
    }
    return false;
  }

  /** Called by a {@link Gate} between a child's fork and its exec: whether it was placed. */
  static boolean placeEarly(long pid, String tag) {
    boolean placed = false;
    for (SpawnListener l : LISTENERS) {
      try {
        placed |= l.placeEarly(pid, tag);
      } catch (RuntimeException e) {
        log.Log.warn("spawn_listener_failed", "pid", pid, "error", String.valueOf(e));
      }
    }
    return placed;
  }

  /** The cgroup.procs descriptors a child started for {@code tag} moves itself in by, or null. */
  static int[] cellFiles(String tag) {
    for (SpawnListener l : LISTENERS) {
      try {
        int[] fds = l.cellFiles(tag);
        if (fds != null) {
          return fds;
        }
      } catch (RuntimeException e) {
        log.Log.warn("spawn_listener_failed", "tag", tag, "error", String.valueOf(e));
      }
    }
    return null;
  }

  /** A descriptor of the cgroup v2 directory to start the child for {@code tag} in, or -1. */
  static int cellDirectory(String tag) {
    for (SpawnListener l : LISTENERS) {
      try {
        int fd = l.cellDirectory(tag);
        if (fd >= 0) {
          return fd;
        }
      } catch (RuntimeException e) {
        log.Log.warn("spawn_listener_failed", "tag", tag, "error", String.valueOf(e));
      }
    }
    return -1;
  }

  /** The child started for {@code tag} as {@code pid} moved itself in before its exec. */
  static void placedItself(long pid, String tag) {
    for (SpawnListener l : LISTENERS) {
      try {
        if (l.placedItself(pid, tag)) {
          return;
        }
      } catch (RuntimeException e) {
        log.Log.warn("spawn_listener_failed", "pid", pid, "error", String.valueOf(e));
      }
    }
  }

  private static final java.util.concurrent.atomic.AtomicBoolean LOGGED =
      new java.util.concurrent.atomic.AtomicBoolean();

  /**
   * Logs which engine starts processes, once, at the first start (not at the agent's start, which
   * would then pay for loading the native library).
   */
  static void logEngineOnce() {
    if (!LOGGED.getAndSet(true)) {
      log.Log.info("process_engine", "engine", engine(), "detail", isNative()
          ? "posix_spawn, one epoll reactor thread, one waitpid reaper thread"
          : "ProcessBuilder and pty4j, threads per process (native spawning unavailable)");
    }
  }

  private static volatile boolean closed;

  /** The agent halts: the files it keeps for spawning (the gates' directories) go first. */
  public static void removeFiles() {
    Gate.removeDirectories();
  }

  /** The agent is shutting down: nothing more is started, so nothing can outlive the last sweep. */
  public static void stopStarting() {
    closed = true;
  }

  static void checkOpen() throws java.io.IOException {
    if (closed) {
      throw new java.io.IOException("the agent is shutting down");
    }
  }

  /**
   * Whether {@code dir} names a directory a process can start in: "" names none (chdir refuses
   * it, where the JDK would read it as the current directory), nor does a name the JDK cannot
   * represent.
   */
  public static boolean isDirectory(String dir) {
    try {
      return !dir.isEmpty() && java.nio.file.Files.isDirectory(java.nio.file.Path.of(dir));
    } catch (java.nio.file.InvalidPathException e) {
      return false;
    }
  }

  /** {@code -Dagent.spawn.on_caller.off=true}: every run is started on the spawning pool. */
  private static final boolean ON_CALLER_OFF = Boolean.getBoolean("agent.spawn.on_caller.off");

  /**
   * Whether a run is started on the thread that asks for it (its event loop): where its child is
   * cloned into its cell and not waited for, a start blocks on nothing (no exec, no look-up of
   * its program or directory, which the child does), and handing it to a spawning thread would
   * only cost a wake-up and a sleep. False until the first run has made the exec helper (which
   * only a cell with a cgroup makes, so never without cgroups), and once the kernel has refused
   * such a clone.
   */
  static boolean startsOnCaller() {
    return !ON_CALLER_OFF && NativeSpawn.available() && ExecHelper.clonesIntoCells();
  }

  /** Whether the native engine is in use. */
  public static boolean isNative() {
    return NativeSpawn.available();
  }

  /** The engine's name for the log: "native" (posix_spawn, epoll, waitpid) or "jdk". */
  public static String engine() {
    return isNative() ? "native" : "jdk";
  }
}
