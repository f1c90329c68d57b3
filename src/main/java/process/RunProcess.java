package process;

import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import sys.LibC;

/**
 * One started command: no shell, in a session and process group of its own (where the C library
 * allows; see {@link NativeSpawn}), its own stdin, stdout and stderr pipes, its output going to
 * {@link OutputSink}s. {@link #done()} completes with the exit code once the process has exited
 * and its output was read.
 */
public abstract class RunProcess {
  /**
   * Once the process has exited, how long a pipe may stay silent (held open by a background child)
   * before it is given up. Time spent waiting for the sink (a slow host) does not count.
   */
  static final long PIPE_GRACE_MS = 200;

  final Containment.Cell cell;
  final CompletableFuture<Integer> done = new CompletableFuture<>();

  RunProcess(Containment.Cell cell) {
    this.cell = cell;
  }

  /**
   * Starts the command in a cell of its own (see {@link Containment}): the cell is opened before
   * the spawn, its tag goes into the child's environment, and the containment's spawn listener
   * places the pid right after the spawn. Blocking (a spawn) unless {@code neverWait}, which
   * starts nothing and throws {@link NativeSpawn.WouldWait} where the start would block.
   */
  private static RunProcess start(List<String> command, String cwd, Map<String, String> env,
      byte[] stdin, OutputSink stdout, OutputSink stderr, Starting starting, boolean neverWait,
      Poller here) throws IOException {
    Reaper.becomeSubreaper();
    Launcher.logEngineOnce();
    Launcher.checkOpen();
    Containment.Cell cell = Containment.get().open("run");
    try {
      starting.cell = cell;
      if (starting.cancelled) {
        throw new IOException("the run ended before its process started");
      }
      if (NativeSpawn.available()) {
        Map<String, String> extra = env == null ? new HashMap<>(2) : new HashMap<>(env);
        extra.put(ProcessTree.TAG_VARIABLE, cell.tag());
        return NativeRun.start(command, cwd, ChildEnvironment.entries(extra), stdin, stdout,
            stderr, cell, neverWait, here);
      }
      Map<String, String> environment = ChildEnvironment.base();
      if (env != null) {
        environment.putAll(env);
      }
      environment.put(ProcessTree.TAG_VARIABLE, cell.tag());
      return JdkRun.start(command, cwd, environment, stdin, stdout, stderr, cell);
    } catch (IOException | RuntimeException e) {
      cell.answered(true);
      throw e;
    }
  }

  /**
   * A start under way: completes with the process, and can be {@linkplain #cancel cancelled}
   * before that, which a start that never ends (an exec on a file system that hangs) needs.
   */
  public static final class Starting extends CompletableFuture<RunProcess> {
    private volatile Containment.Cell cell;
    private volatile boolean cancelled;

    /**
     * Kills what this start has started or starts from now on: the process is killed in its cell
     * as soon as it is placed there, even while its exec waits; a start that has not made its
     * cell yet starts nothing. The start then completes as usual, with a killed process.
     */
    public void cancel() {
      cancelled = true;
      Containment.Cell c = cell;
      if (c != null) {
        c.killOncePlaced();
      }
    }
  }

  /**
   * Starts a process: on the calling thread where its child is cloned into its cell and its exec
   * not waited for (see {@link Launcher#startsOnCaller()}), so that nothing blocks and no other
   * thread is woken; otherwise on the engine's small spawning pool. Either way the start has
   * completed, or will complete, on the thread that did it. A start made here reads its pipes on
   * {@code here}, the calling thread's poller, if there is one (else null); one made on the pool
   * reads them on the {@link Reactor}.
   */
  public static Starting startAsync(List<String> command, String cwd,
      Map<String, String> env, byte[] stdin, OutputSink stdout, OutputSink stderr, Poller here) {
    Starting f = new Starting();
    if (!Launcher.startsOnCaller()
        || !startHere(f, () -> start(command, cwd, env, stdin, stdout, stderr, f, true, here))) {
      Launcher.SPAWN.execute(() -> startHere(f,
          () -> start(command, cwd, env, stdin, stdout, stderr, f, false, null)));
    }
    return f;
  }

  /**
   * Runs {@code start} on this thread and completes {@code f} with what it gives; false, with
   * {@code f} left as it was, where it would have waited and started nothing.
   */
  private static boolean startHere(Starting f, Launcher.SpawnCall<RunProcess> start) {
    try {
      f.complete(start.call());
    } catch (NativeSpawn.WouldWait e) {
      return false;
    } catch (IOException | RuntimeException | LinkageError e) {
      // A native library that could not load included: the run is answered with the error, never
      // left waiting.
      f.completeExceptionally(e);
    }
    // Here, after the spawn, rather than on a thread woken for each run.
    Containment.get().releaseAnswered();
    return true;
  }

  public abstract long pid();

  /**
   * Completes with the exit code (128 + N for a process killed by signal N), or with
   * {@link StartFailed} where the start was not waited for and the command never ran.
   */
  public CompletableFuture<Integer> done() {
    return done;
  }

  /**
   * The process started, but its command never ran (no such program or directory, say): known
   * only once it had exited, where its start did not wait for its exec. Its cause is worded as a
   * start's failure is.
   */
  public static final class StartFailed extends IOException {
    private static final long serialVersionUID = 1L;

    StartFailed(IOException cause) {
      super(cause.getMessage(), cause);
    }
  }

  /** True until the started process itself has exited (its descendants may live on). */
  public abstract boolean isAlive();

  /** Where the process and everything it starts live (see {@link Containment}). */
  public Containment.Cell cell() {
    return cell;
  }

  /**
   * Kills the process and everything it started with SIGKILL: its cell, and what escaped it
   * before it was contained. Returns at once; completes once the signals are sent.
   */
  public CompletableFuture<Void> killTree() {
    return Containment.get().kill(List.of(cell));
  }

  /**
   * SIGTERM to the process group the run leads (with the fallback engine, which starts no group
   * of its own, to the whole tree). Reads no /proc.
   */
  public void terminateGroup() {
    if (!NativeSpawn.available()) {
      terminateTree();
    } else if (isAlive()) {
      LibC.signal(-pid(), LibC.SIGTERM);
    }
  }

  /** SIGTERM to the process and everything it started. */
  public CompletableFuture<Void> terminateTree() {
    return Containment.get().signal(List.of(cell), LibC.SIGTERM);
  }
}
