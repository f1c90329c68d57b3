package process;

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
 * <p>The native engine spawns with {@code posix_spawnp} on a small fixed pool, waits on every
 * pipe and terminal in one {@link Reactor} thread, and on every exit in one {@link Reaper}
 * thread: the thread count does not grow with the processes in flight. Where native spawning is
 * unavailable, the fallback uses {@link ProcessBuilder} and pty4j, with threads per process.
 */
public final class Launcher {
  private static final List<SpawnListener> LISTENERS = new CopyOnWriteArrayList<>();

  /** Spawning blocks the caller until the child has exec'd: a few threads do it, no more. */
  static final ExecutorService SPAWN = new ThreadPoolExecutor(spawnThreads(), spawnThreads(), 0,
      TimeUnit.SECONDS, new LinkedBlockingQueue<>(), Threads.factory("process-spawn"));

  private Launcher() {}

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

  /** Whether the native engine is in use. */
  public static boolean isNative() {
    return NativeSpawn.available();
  }

  /** The engine's name for the log: "native" (posix_spawn, epoll, waitpid) or "jdk". */
  public static String engine() {
    return isNative() ? "native" : "jdk";
  }
}
