package process;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import sys.LibC;

/**
 * What a shell session is, whoever talks to it: a process on a {@link Terminal} of its own, in a
 * cell of its own (see {@link Containment}), that takes input up to a bound and ends with a
 * hang-up, then SIGKILL after a grace. The counterpart of {@link RunProcess} for terminals.
 *
 * <p>Its owner calls it from one thread at a time; callbacks given to {@link #write},
 * {@link #resize} and {@link #start} come on the engine's threads. Follow-ups that need time run
 * on the owner's {@link Loop}.
 */
public final class ShellProcess {
  /** What a session's environment has unless its request says otherwise. */
  public static final Map<String, String> DEFAULT_ENV = Map.of("TERM", "xterm-256color",
      "HOME", "/root", "PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
  /** Input waiting to reach the terminal beyond this is refused, unless none waits. */
  public static final long MAX_PENDING_INPUT = 1024 * 1024;
  /**
   * How long a session's process may take to start (its exec) before it is killed: an exec that
   * waits on a file system that hangs would otherwise hold the session, its cell and the thread
   * that starts it for good, and the host, which has no session id yet, could not close it.
   * {@code -Dagent.shell.start_bound_ms} changes it.
   */
  static final long START_BOUND_MS = Long.getLong("agent.shell.start_bound_ms", 30_000);

  private final Containment.Cell cell;
  private final Terminal terminal;
  private final CompletableFuture<Integer> exit;
  private final AtomicLong pendingInput = new AtomicLong();

  private ShellProcess(Containment.Cell cell, Terminal terminal, CompletableFuture<Integer> exit) {
    this.cell = cell;
    this.terminal = terminal;
    this.exit = exit;
  }

  /**
   * Starts {@code command} on a terminal of {@code cols} x {@code rows}, with the agent's base
   * environment, {@link #DEFAULT_ENV} and then {@code env} (may be null). {@code onExit} hears
   * the exit code before {@link #exit()} completes and before {@code output} hears the end.
   * Blocking (a spawn).
   */
  public static ShellProcess start(List<String> command, String cwd, Map<String, String> env,
      int cols, int rows, OutputSink output, IntConsumer onExit) throws IOException {
    Map<String, String> environment = ChildEnvironment.base();
    environment.putAll(DEFAULT_ENV);
    if (env != null) {
      environment.putAll(env);
    }
    // Lets a shutdown or close find the session's processes that left it (see ProcessTree).
    Containment.Cell cell = Containment.get().open("shell");
    environment.put(ProcessTree.TAG_VARIABLE, cell.tag());
    CompletableFuture<Integer> exit = new CompletableFuture<>();
    java.util.concurrent.atomic.AtomicBoolean started =
        new java.util.concurrent.atomic.AtomicBoolean();
    CompletableFuture.delayedExecutor(START_BOUND_MS, java.util.concurrent.TimeUnit.MILLISECONDS)
        .execute(() -> {
          if (!started.get()) {
            log.Log.warn("shell_start_stuck", "bound_ms", START_BOUND_MS, "detail",
                "the session's process has not started: killed");
            cell.killOncePlaced();
          }
        });
    try {
      Terminal t = Terminal.start(command, cwd == null ? System.getProperty("user.dir") : cwd,
          environment, cols, rows, cell.tag(), output, code -> {
            // The owner hears the exit before anything that waits for it (see #end) follows up.
            onExit.accept(code);
            exit.complete(code);
          });
      return new ShellProcess(cell, t, exit);
    } catch (IOException | RuntimeException e) {
      cell.answered(true);
      throw e;
    } finally {
      started.set(true);
    }
  }

  /**
   * As {@link #start}, on a spawning thread: the caller's thread does not wait for the spawn,
   * which may take as long as the start bound when the program's exec hangs.
   */
  public static CompletableFuture<ShellProcess> startAsync(List<String> command, String cwd,
      Map<String, String> env, int cols, int rows, OutputSink output, IntConsumer onExit) {
    CompletableFuture<ShellProcess> started = new CompletableFuture<>();
    Launcher.SPAWN.execute(() -> {
      try {
        started.complete(start(command, cwd, env, cols, rows, output, onExit));
      } catch (IOException | RuntimeException e) {
        started.completeExceptionally(e);
      }
    });
    return started;
  }

  public long pid() {
    return terminal.pid();
  }

  /** Completes with the exit code (128 + N after signal N) once the process has exited. */
  public CompletableFuture<Integer> exit() {
    return exit;
  }

  /**
   * Writes {@code data} to the terminal after what waits; {@code done} hears null or the error.
   * Returns false, and writes nothing, when earlier input still waits and this would take the
   * waiting bytes past {@link #MAX_PENDING_INPUT}. One input of any size is taken when nothing
   * waits: refusing it would have a host that retries on Busy retry for ever.
   */
  public boolean write(byte[] data, Consumer<IOException> done) {
    long waiting = pendingInput.get();
    if (waiting > 0 && waiting + data.length > MAX_PENDING_INPUT) {
      return false;
    }
    pendingInput.addAndGet(data.length);
    terminal.write(data, ex -> {
      pendingInput.addAndGet(-data.length);
      done.accept(ex);
    });
    return true;
  }

  /** Sets the window size; {@code done} hears null or the error. */
  public void resize(int cols, int rows, Consumer<Exception> done) {
    terminal.resize(cols, rows, done);
  }

  /**
   * Ends every process of the session: SIGHUP, as when a terminal goes away, then SIGKILL after
   * {@code graceMs}. Completes on the scheduler, with the exit code, once the process has exited
   * and what it left is swept. Nothing here waits on a thread, so that many sessions can end at
   * once within the shutdown budget.
   */
  public CompletableFuture<Integer> end(long graceMs, Loop scheduler) {
    if (exit.isDone()) {
      // The process is gone; anything it left in its session, or that escaped it, still goes.
      sweep();
      return exit.thenApplyAsync(code -> code, scheduler);
    }
    // The process itself first: just started, it may not lead its session yet.
    LibC.signal(pid(), LibC.SIGHUP);
    Containment.get().signal(List.of(cell), LibC.SIGHUP);
    long timer = scheduler.schedule(Math.max(1, graceMs), this::sweep);
    return exit.thenApplyAsync(code -> {
      scheduler.cancel(timer);
      sweep();
      return code;
    }, scheduler);
  }

  /**
   * The agent is shutting down: a hang-up to the process and its group, as when a terminal goes
   * away, reads no /proc. Completes on the scheduler with the exit code, or -1 if the process
   * has not exited within {@code graceMs}; what is left then goes with the agent's last sweep of
   * all its descendants, one pass for everything.
   */
  public CompletableFuture<Integer> hangUp(long graceMs, Loop scheduler) {
    LibC.signal(pid(), LibC.SIGHUP);
    LibC.signal(-pid(), LibC.SIGHUP);
    CompletableFuture<Integer> bounded = new CompletableFuture<>();
    long timer = scheduler.schedule(Math.max(1, graceMs), () -> bounded.complete(-1));
    exit.whenCompleteAsync((code, e) -> {
      scheduler.cancel(timer);
      bounded.complete(e == null ? code : -1);
    }, scheduler);
    return bounded;
  }

  /** Closes the terminal (the agent's side): the output ends, queued input fails. */
  public void close() {
    terminal.close();
  }

  /** SIGKILL to every process of the session's cell, and to what escaped it before its placing. */
  private void sweep() {
    Containment.get().kill(List.of(cell));
  }
}
