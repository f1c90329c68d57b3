package process;

import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

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

  final String tag;
  final CompletableFuture<Integer> done = new CompletableFuture<>();

  RunProcess(String tag) {
    this.tag = tag;
  }

  /** Starts the command. Blocking (a spawn); call it off any event loop. */
  public static RunProcess start(List<String> command, String cwd, Map<String, String> env,
      byte[] stdin, OutputSink stdout, OutputSink stderr) throws IOException {
    String tag = ProcessTree.newTag();
    Reaper.becomeSubreaper();
    Launcher.logEngineOnce();
    Launcher.checkOpen();
    if (NativeSpawn.available()) {
      Map<String, String> extra = env == null ? new HashMap<>(2) : new HashMap<>(env);
      extra.put(ProcessTree.TAG_VARIABLE, tag);
      return NativeRun.start(command, cwd, ChildEnvironment.entries(extra), stdin, stdout, stderr,
          tag);
    }
    Map<String, String> environment = ChildEnvironment.base();
    if (env != null) {
      environment.putAll(env);
    }
    environment.put(ProcessTree.TAG_VARIABLE, tag);
    return JdkRun.start(command, cwd, environment, stdin, stdout, stderr, tag);
  }

  /** {@link #start} on the engine's small spawning pool. */
  public static CompletableFuture<RunProcess> startAsync(List<String> command, String cwd,
      Map<String, String> env, byte[] stdin, OutputSink stdout, OutputSink stderr) {
    CompletableFuture<RunProcess> f = new CompletableFuture<>();
    Launcher.SPAWN.execute(() -> {
      try {
        f.complete(start(command, cwd, env, stdin, stdout, stderr));
      } catch (IOException | RuntimeException e) {
        f.completeExceptionally(e);
      }
    });
    return f;
  }

  public abstract long pid();

  /** Completes with the exit code (128 + N for a process killed by signal N). */
  public CompletableFuture<Integer> done() {
    return done;
  }

  /** True until the started process itself has exited (its descendants may live on). */
  public abstract boolean isAlive();

  /**
   * Kills the process, every descendant, and every process that escaped the tree (by double-fork
   * or setsid) but still carries this run's tag, with SIGKILL. Blocking (reads /proc).
   */
  public void killTree() {
    Optional<ProcessHandle> h = isAlive() ? ProcessHandle.of(pid()) : Optional.empty();
    if (h.isPresent()) {
      ProcessTree.kill(h.get());
    } else {
      // The leader is gone: what is left of its session, and what left the session, remain.
      ProcessTree.killSession(pid());
    }
    ProcessTree.killTagged(tag);
  }

  /**
   * SIGTERM to the process group the run leads (with the fallback engine, which starts no group
   * of its own, to the whole tree). Reads no /proc.
   */
  public void terminateGroup() {
    if (!NativeSpawn.available()) {
      terminateTree();
    } else if (isAlive()) {
      Posix.kill(-pid(), Posix.SIGTERM);
    }
  }

  /** SIGTERM to the whole tree, escaped members included. */
  public void terminateTree() {
    Optional<ProcessHandle> h = isAlive() ? ProcessHandle.of(pid()) : Optional.empty();
    if (h.isPresent()) {
      ProcessTree.terminate(h.get());
    } else {
      ProcessTree.signalSession(pid(), Posix.SIGTERM);
    }
    ProcessTree.signalTagged(tag, Posix.SIGTERM);
  }
}
