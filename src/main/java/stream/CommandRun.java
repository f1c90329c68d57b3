package stream;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import log.Log;
import process.Containment;
import process.Launcher;
import process.OutputBudget;
import process.OutputSink;
import process.RunProcess;
import protocol.Errors;
import protocol.FrameDecoder;
import protocol.Request;
import protocol.Response;

/**
 * One {@code run} request from its start to its one answer: the process (started through
 * {@link RunProcess} on the spawning pool), its timeout, what becomes of what it leaves running,
 * and the answer, given exactly once whatever happens first: the exit, a failed start, or the
 * connection closing. The two kinds differ in where the output goes: a {@link CapturedRun} keeps
 * it for the answer, a {@link StreamedRun} sends it as it comes and answers once it was taken.
 *
 * <p>Everything but the output sinks happens on the {@link Shared#loop}, one task at a time (the
 * serving verticle's event loop; a plain executor in tests): a run takes no thread and no lock.
 * What the run needs from outside comes through {@link Shared} and {@link Answer}, which know
 * nothing of Vert.x.
 */
public abstract class CommandRun {
  /** The exit code of a run that its timeout ended (as timeout(1) reports it). */
  static final int TIMED_OUT = 124;
  /**
   * How long after its timeout's kill a run is answered even if its process has not exited: a
   * process that waits in the kernel (on a file system that does not answer) dies only once the
   * kernel lets it.
   */
  static final long UNKILLED_ANSWER_MS = 1000;

  /** Receives a run's answer, once, on the loop. */
  public interface Answer {
    void send(CommandRun run, Response response);
  }

  /**
   * Where a streamed run's frames go. Each stream {@link #open}s its own way to the connection,
   * and hears there the acknowledgements of the frames it sent.
   */
  public interface Outlet {
    Way open(Acks acks);

    /** Told, on the loop, that a connection wrote a stream's frames up to an offset. */
    interface Acks {
      void ack(long epoch, long offset);
    }

    /** One stream's sender; closed once the run has answered. */
    interface Way extends StreamPump.Sender {
      void close();
    }
  }

  /**
   * What every run of one server shares: its loop and timers, the default cap of a stream's
   * output ({@code run_max_output_bytes}), the memory budgets of captured and streamed output,
   * and where streamed output goes.
   */
  public record Shared(process.Loop loop, long maxOutputBytes,
      OutputBudget captureBudget, FrameDecoder.Budget streamBudget, Outlet outlet) {}

  final Shared shared;
  final String connId;
  final Request.Run request;
  private final Answer answer;
  /** The start, until it completes (a shutdown waits for it). */
  private RunProcess.Starting starting;
  /** Set by the thread that started the process once it runs, read on the loop. */
  private volatile RunProcess process;
  private long timer = -1;
  boolean timedOut;
  /** Set once the process has exited. */
  Integer exitCode;
  /**
   * Set on the loop, read by a spawning thread too: a start that completes after the answer
   * kills what it started. With {@link #process} it makes a pair that cannot both miss: the loop
   * sets this before it reads the process, a spawning thread sets the process before it reads
   * this.
   */
  private volatile boolean answered;

  CommandRun(Shared shared, String connId, Request.Run request, Answer answer) {
    this.shared = shared;
    this.connId = connId;
    this.request = request;
    this.answer = answer;
  }

  /** A run of {@code request}, from connection {@code connId}, not started yet. */
  public static CommandRun of(Shared shared, String connId, Request.Run request, Answer answer) {
    return request.stream() ? new StreamedRun(shared, connId, request, answer)
        : new CapturedRun(shared, connId, request, answer);
  }

  public String connId() {
    return connId;
  }

  /** How many bytes of each output stream the run takes: the request's cap, else the server's. */
  long cap() {
    return request.maxOutputBytes() != null ? request.maxOutputBytes() : shared.maxOutputBytes();
  }

  abstract OutputSink stdout();

  abstract OutputSink stderr();

  /** The process has exited (and, for a captured run, its output was read). */
  abstract void exited();

  /** The answer is being given: what the output holds goes, now or once it is framed. */
  abstract void release(Response response);

  /** No more output will be taken: its producers stop (connection gone, or shutdown). */
  abstract void closeOutput();

  /**
   * The run timed out, and its process either never started or was not ended by the kill: it is
   * answered now, with the output it gave so far. On the loop.
   */
  abstract void timedOutBeforeExit();

  /**
   * Starts the process; its end, or its failure to start, comes back on the loop. Most starts
   * complete here, on the loop (see {@link RunProcess#startAsync}); one made on a spawning thread
   * is taken note of there, so that a run without a timeout comes back to the loop once, when it
   * ends. On the loop.
   */
  public final void start() {
    Request.Run r = request;
    try {
      starting = RunProcess.startAsync(r.command(), r.cwd(), r.env(), r.stdin(), stdout(),
          stderr(), shared.loop().poller());
    } catch (RuntimeException | LinkageError e) {
      // Nothing was started (a native library that could not load, say): the host hears why
      // rather than waiting for an answer.
      failedToStart(e);
      return;
    }
    if (r.timeoutMs() != null) {
      // Counted from here: a start that never ends (an exec on a file system that hangs) is
      // timed too.
      timer = shared.loop().schedule(r.timeoutMs(), this::timeUp);
    }
    starting.whenComplete(this::started);
  }

  /** On the thread that started the process: the loop, or a spawning thread. */
  private void started(RunProcess p, Throwable failure) {
    if (failure != null) {
      shared.loop().execute(() -> {
        if (timedOut) {
          exitCode = -1;
          timedOutBeforeExit();
          return;
        }
        failedToStart(failure);
      });
      return;
    }
    process = p;
    if (answered) {
      // The connection closed (or the agent began to stop) while the process was starting.
      p.killTree();
      return;
    }
    p.done().whenCompleteAsync((code, e) -> {
      if (e instanceof RunProcess.StartFailed) {
        // Its command never ran: answered as a start that failed, whatever the timer did.
        cancelTimer();
        exitCode = -1;
        failedToStart(e);
      } else {
        exited(code);
      }
    }, shared.loop());
  }

  /** The command could not be started: the answer says why. On the loop. */
  private void failedToStart(Throwable failure) {
    answer(Errors.toResponse(request.id(), Errors.runFailed(request.command(), request.cwd(),
        failure instanceof IOException io && io.getCause() != null ? io.getCause() : failure)));
  }

  private void timeUp() {
    timer = -1;
    if (exitCode != null || answered) {
      return;
    }
    RunProcess p = process;
    if (p == null) {
      // Still starting: killed once in its cell, and answered as timed out once the start
      // completes with it.
      timedOut = true;
      starting.cancel();
      return;
    }
    // A process that exited already keeps its own exit code; but what it left behind still
    // holding its pipes (and so the run) is killed as well: the run ends by its time either way.
    timedOut = p.isAlive();
    // On the containment thread: this returns at once.
    p.killTree();
    timer = shared.loop().schedule(UNKILLED_ANSWER_MS, this::killTakesLong);
  }

  /**
   * The kill of a timed-out run has not ended its process: the host is answered anyway. The
   * process stays in its cell, killed, and goes when the kernel lets it.
   */
  private void killTakesLong() {
    timer = -1;
    RunProcess p = process;
    // A process that has exited waits for its pipes, which its killed leftovers let go.
    if (exitCode != null || answered || p == null || !p.isAlive()) {
      return;
    }
    Log.warn("run_unkilled", "connection", connId, "id", request.id(), "pid", p.pid(), "ms",
        UNKILLED_ANSWER_MS);
    timedOut = true;
    exitCode = -1;
    timedOutBeforeExit();
  }

  private void exited(Integer code) {
    cancelTimer();
    exitCode = code == null ? -1 : code;
    exited();
  }

  private void cancelTimer() {
    if (timer >= 0) {
      shared.loop().cancel(timer);
      timer = -1;
    }
  }

  /** The exit code the answer gives. */
  int exitCode() {
    return timedOut ? TIMED_OUT : exitCode;
  }

  /** Gives {@code response} as the answer, unless one was given already. */
  final void answer(Response response) {
    answer(response, false);
  }

  /** With {@code killing}, the caller kills the run's cell itself once answered. */
  private void answer(Response response, boolean killing) {
    if (answered) {
      return;
    }
    answered = true;
    RunProcess p = process;
    if (p != null && !killing) {
      // What the command left running stays in its cell, or ends now if the host asked.
      p.cell().answered(request.killLeftovers());
    }
    release(response);
    answer.send(this, response);
  }

  /**
   * Connection {@code connId} closed: its {@code runs} are killed in one batch (with cgroups one
   * write per run, without them a few passes over /proc for all of them together), and each
   * answers {@link Errors#CONNECTION_CLOSED}.
   */
  public static void connectionClosed(String connId, Collection<? extends CommandRun> runs) {
    List<Containment.Cell> cells = new ArrayList<>();
    for (CommandRun run : runs) {
      Log.info("run_killed", "connection", connId, "id", run.request.id(), "reason",
          "connection closed");
      run.closeOutput();
      boolean open = !run.answered;
      // Answered before its process is looked at: a start that completes from now on sees the
      // answer and kills what it started itself.
      run.answer(Response.error(run.request.id(), Errors.CONNECTION_CLOSED), true);
      RunProcess p = run.process;
      if (open && p != null) {
        cells.add(p.cell());
      } else if (open && run.starting != null) {
        // Its start may never end by itself (an exec that waits on a file system that hangs).
        run.starting.cancel();
      }
    }
    if (!cells.isEmpty()) {
      Containment.get().kill(cells);
    }
  }

  /**
   * Shutdown, on the loop: no start begins any more, and each run's output stops and its process
   * group gets SIGTERM (it leads one of its own, so this reads no /proc). Then
   * {@link #awaitEnd}.
   */
  public static void terminate(Collection<? extends CommandRun> runs) {
    Launcher.stopStarting();
    for (CommandRun run : runs) {
      run.closeOutput();
      if (run.process != null) {
        run.process.terminateGroup();
      } else if (run.starting != null) {
        // Its start may never end by itself (an exec that waits on a file system that hangs):
        // what it starts is killed, so that the wait below is short.
        run.starting.cancel();
      }
    }
  }

  /**
   * Shutdown, blocking (off the loop): waits up to {@code graceMs} for the runs to end. What is
   * still alive after that, or left its group, is killed by the agent's last step, one pass over
   * all its descendants ({@code ProcessTree.killAllDescendants}), instead of a search per run
   * here.
   */
  /** At shutdown, how long a start is waited for once the grace is spent. */
  private static final long START_WAIT_NS = 100_000_000;

  public static void awaitEnd(Collection<? extends CommandRun> runs, long graceMs) {
    long deadline = System.nanoTime() + graceMs * 1_000_000;
    for (CommandRun run : runs) {
      RunProcess p = run.process;
      long left = Math.max(0, deadline - System.nanoTime());
      try {
        if (p == null && run.starting != null) {
          // Still starting: it must not outlive the last sweep of the shutdown.
          // A start already under way finishes (a spawn takes milliseconds, and one that
          // waits in its exec was killed above); those queued behind it now fail at once.
          p = run.starting.get(Math.max(left, START_WAIT_NS), TimeUnit.NANOSECONDS);
          p.terminateGroup();
          left = Math.max(0, deadline - System.nanoTime());
        }
        if (p != null) {
          p.done().get(left, TimeUnit.NANOSECONDS);
        }
      } catch (Exception e) {
        // Still alive after the grace (or it did not start): killed with every other
        // descendant.
      }
    }
  }
}
