package process;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A run on the native engine: its pipes are {@link Channel}s of a {@link Poller} (the event loop
 * that started it, or else the {@link Reactor}), its exit comes from the {@link Reaper}. No thread
 * of its own.
 *
 * <p>Three threads each bring a part of the end: the starting thread has started reading the
 * pipes, the poller has seen each of them end, the reaper has collected the exit code. Each part
 * is a bit set once; whichever thread sets the last one completes {@link #done} where it is, so
 * the common run (pipes ended by the time it exited) costs no hand-off between them. Only a run
 * whose pipes outlive its exit (held open by something it left running) hands the poller the
 * grace check, which reads its channels' state there.
 */
final class NativeRun extends RunProcess {
  private static final int WATCHED = 1;
  private static final int EXITED = 2;
  private static final int OUT_DONE = 4;
  private static final int ERR_DONE = 8;
  private static final int ALL = WATCHED | EXITED | OUT_DONE | ERR_DONE;

  private final Poller poller;
  private final java.util.concurrent.atomic.AtomicInteger parts =
      new java.util.concurrent.atomic.AtomicInteger();
  private volatile int pid;
  private volatile Integer exitCode;
  private volatile long exitedAt;
  private Channel out;
  private Channel err;
  /** Poller's thread: takes back the grace check waiting to run, or null. */
  private Runnable grace;
  /**
   * Set before {@link #WATCHED}: a child whose exec was not waited for, whose failure to start is
   * known once it has been reaped; null otherwise. Read by the thread that completes the run.
   */
  private NativeSpawn.Unconfirmed unconfirmed;

  private NativeRun(Containment.Cell cell, Poller poller) {
    super(cell);
    this.poller = poller;
  }

  /** With {@code here}, the calling thread's poller, or null for the {@link Reactor}. */
  static NativeRun start(List<String> command, String cwd, String[] env, byte[] stdin,
      OutputSink stdout, OutputSink stderr, Containment.Cell cell, boolean neverWait,
      Poller here) throws IOException {
    NativeRun run = new NativeRun(cell, here != null ? here : Reactor.get());
    NativeSpawn.Child c = NativeSpawn.start(command, cwd, env, stdin == null, (pid, t) -> {
      run.pid = (int) pid;
      Reaper.watch((int) pid, run::exited);
    }, cell.tag(), neverWait);
    // At once: the reaper holds the run until the child is collected, and with it the memory the
    // child may still be using.
    run.unconfirmed = c.unconfirmed();
    run.out = new Channel(run.poller, c.stdout(), stdout, () -> run.add(OUT_DONE), false);
    run.err = new Channel(run.poller, c.stderr(), stderr, () -> run.add(ERR_DONE), false);
    if (stdin != null) {
      Channel in = new Channel(run.poller, c.stdin(), null, null, true);
      // The process may close its stdin early: what it did not read is dropped, as in a pipe.
      in.write(stdin, e -> { });
      in.closeWriteWhenWritten();
      in.start();
    }
    run.out.startReading();
    run.err.startReading();
    run.add(WATCHED);
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
    exitedAt = System.nanoTime();
    exitCode = code;
    add(EXITED);
  }

  /** Sets {@code part}, on the thread that brings it; completes the run once all are in. */
  private void add(int part) {
    int before = parts.getAndUpdate(p -> p | part);
    int now = before | part;
    if (now == before) {
      return;
    }
    if (now == ALL) {
      if (poller.inThread() && grace != null) {
        // The pipes ended after the exit, here: the grace check is not needed.
        grace.run();
        grace = null;
      }
      // Reaped by now (EXITED is the reaper's): its memory is free, its error word final.
      IOException failed = unconfirmed == null ? null : unconfirmed.settle();
      if (failed != null) {
        done.completeExceptionally(new StartFailed(failed));
      } else {
        done.complete(exitCode);
      }
    } else if ((now & (WATCHED | EXITED)) == (WATCHED | EXITED)
        && (before & (WATCHED | EXITED)) != (WATCHED | EXITED)) {
      // Exited with a pipe still open: watch for a pipe that stays silent.
      poller.execute(() -> {
        if (!done.isDone()) {
          grace = poller.scheduleHere(PIPE_GRACE_MS, this::checkPipes);
        }
      });
    }
  }

  /** Poller's thread, after the exit: gives up pipes that stay silent for the grace. */
  private void checkPipes() {
    grace = null;
    if (done.isDone()) {
      return;
    }
    long silence = TimeUnit.MILLISECONDS.toNanos(PIPE_GRACE_MS);
    out.giveUpIfSilent(exitedAt, silence);
    err.giveUpIfSilent(exitedAt, silence);
    if (!done.isDone()) {
      grace = poller.scheduleHere(PIPE_GRACE_MS / 4, this::checkPipes);
    }
  }
}
