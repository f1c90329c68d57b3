package process;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A run on the native engine: its pipes are {@link Channel}s in the {@link Reactor}, its exit
 * comes from the {@link Reaper}. No thread of its own. The state below lives on the reactor
 * thread, except {@link #exitCode}, set once by the reaper.
 */
final class NativeRun extends RunProcess {
  private final Reactor reactor = Reactor.get();
  private volatile int pid;
  private volatile Integer exitCode;
  private Channel out;
  private Channel err;
  /** Reactor thread: the channels are watched. */
  private boolean ready;
  private boolean exitSeen;
  private long exitedAt;

  private NativeRun(Containment.Cell cell) {
    super(cell);
  }

  static NativeRun start(List<String> command, String cwd, String[] env, byte[] stdin,
      OutputSink stdout, OutputSink stderr, Containment.Cell cell) throws IOException {
    NativeRun run = new NativeRun(cell);
    NativeSpawn.Child c = NativeSpawn.start(command, cwd, env, stdin == null, (pid, t) -> {
      run.pid = (int) pid;
      Reaper.watch((int) pid, run::exited);
      Launcher.spawned(pid, t);
    }, cell.tag());
    run.out = new Channel(run.reactor, c.stdout(), stdout, run::sinkDone, false);
    run.err = new Channel(run.reactor, c.stderr(), stderr, run::sinkDone, false);
    Channel in = null;
    if (stdin != null) {
      in = new Channel(run.reactor, c.stdin(), null, null, true);
      // The process may close its stdin early: what it did not read is dropped, as in a pipe.
      in.write(stdin, e -> { });
      in.closeWriteWhenWritten();
    }
    Channel input = in;
    run.reactor.execute(() -> {
      run.out.start();
      run.err.start();
      if (input != null) {
        input.start();
      }
      run.ready = true;
      if (run.exitSeen) {
        run.afterExit();
      }
    });
    return run;
  }

  @Override
  public long pid() {
    return pid;
  }

  @Override
  public boolean isAlive() {
    return exitCode == null;
  }

  /** On the reaper thread. */
  private void exited(int code) {
    exitCode = code;
    reactor.execute(() -> {
      exitSeen = true;
      if (ready) {
        afterExit();
      }
    });
  }

  private void afterExit() {
    exitedAt = System.nanoTime();
    if (!complete()) {
      reactor.schedule(PIPE_GRACE_MS, this::checkPipes);
    }
  }

  private void sinkDone() {
    if (exitSeen && ready) {
      complete();
    }
  }

  /** After the exit: gives up pipes that stay silent for the grace, until both streams ended. */
  private void checkPipes() {
    if (done.isDone()) {
      return;
    }
    long grace = TimeUnit.MILLISECONDS.toNanos(PIPE_GRACE_MS);
    out.giveUpIfSilent(exitedAt, grace);
    err.giveUpIfSilent(exitedAt, grace);
    if (!complete()) {
      reactor.schedule(PIPE_GRACE_MS / 4, this::checkPipes);
    }
  }

  private boolean complete() {
    if (out.sinkDone() && err.sinkDone()) {
      done.complete(exitCode);
      return true;
    }
    return false;
  }
}
