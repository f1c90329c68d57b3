package process;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * One started command: no shell, in a session and process group of its own (where the C library
 * allows; see {@link NativeSpawn}), its own stdin, stdout and stderr pipes, each stream read by its
 * own thread into an {@link OutputSink}. {@link #done()} completes with the exit code once the
 * process has exited and its output was read.
 */
public final class RunProcess {
  /**
   * Once the process has exited, how long a pipe may stay silent (held open by a background child)
   * before it is given up. Time spent waiting for the sink (a slow host) does not count.
   */
  private static final long PIPE_GRACE_MS = 200;

  private static final ExecutorService IO = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 30,
      TimeUnit.SECONDS, new SynchronousQueue<>(), r -> {
        Thread t = new Thread(null, r, "run-io", 256 * 1024);
        t.setDaemon(true);
        return t;
      });

  private final Process process;
  private final Containment.Cell cell;
  private final Pipe stdout;
  private final Pipe stderr;
  private final CompletableFuture<Integer> done = new CompletableFuture<>();
  private volatile long exitedAt;

  /** One output stream and the state of its reader. */
  private static final class Pipe {
    final OutputSink sink;
    final CompletableFuture<Void> eof = new CompletableFuture<>();
    /** Guarded by {@code this}: the reader is handing bytes to the sink. */
    boolean writing;
    volatile long lastActive = System.nanoTime();

    Pipe(OutputSink sink) {
      this.sink = sink;
    }

    /** Ends the stream once: the sink hears of it exactly one time. */
    synchronized void end() {
      if (!eof.isDone()) {
        sink.finish();
        eof.complete(null);
      }
    }

    /** Ends the stream if its reader has been waiting on the pipe since {@code since}. */
    synchronized void giveUpIfSilent(long since, long graceNanos) {
      if (!writing && System.nanoTime() - Math.max(since, lastActive) >= graceNanos) {
        end();
      }
    }

    /** Whether the bytes just read go to the sink; if so, the caller must call {@link #wrote}. */
    synchronized boolean beginWrite() {
      if (eof.isDone()) {
        return false;
      }
      writing = true;
      return true;
    }

    synchronized void wrote() {
      writing = false;
      lastActive = System.nanoTime();
    }
  }

  private RunProcess(Process process, Containment.Cell cell, OutputSink stdout,
      OutputSink stderr) {
    this.process = process;
    this.cell = cell;
    this.stdout = new Pipe(stdout);
    this.stderr = new Pipe(stderr);
  }

  /** Starts the command. Blocking (a fork and exec); call it off any event loop. */
  public static RunProcess start(List<String> command, String cwd, Map<String, String> env,
      byte[] stdin, OutputSink stdout, OutputSink stderr) throws IOException {
    Map<String, String> environment = ChildEnvironment.base();
    if (env != null) {
      environment.putAll(env);
    }
    Containment.Cell cell = Containment.get().open("run");
    environment.put(ProcessTree.TAG_VARIABLE, cell.tag());
    Reaper.becomeSubreaper();
    Process process;
    Reaper.spawning().lock();
    try {
      process = NativeSpawn.available()
          ? NativeSpawn.start(command, cwd, environment, stdin == null)
          : jdkStart(command, cwd, environment, stdin == null);
      Reaper.own(process.pid());
    } catch (IOException | RuntimeException e) {
      cell.answered(true);
      throw e;
    } finally {
      Reaper.spawning().unlock();
    }
    cell.place(process.pid());
    RunProcess rp = new RunProcess(process, cell, stdout, stderr);
    rp.read(rp.process.getInputStream(), rp.stdout);
    rp.read(rp.process.getErrorStream(), rp.stderr);
    if (stdin != null) {
      IO.execute(() -> rp.feed(stdin));
    }
    rp.process.onExit().thenRun(rp::exited);
    return rp;
  }

  /** The fallback where native spawning is not available: no session of its own. */
  private static Process jdkStart(List<String> command, String cwd, Map<String, String> env,
      boolean stdinFromNull) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(command);
    if (cwd != null) {
      pb.directory(new java.io.File(cwd));
    }
    pb.environment().clear();
    pb.environment().putAll(env);
    if (stdinFromNull) {
      pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    }
    return pb.start();
  }

  private void feed(byte[] stdin) {
    try (OutputStream out = process.getOutputStream()) {
      out.write(stdin);
    } catch (IOException e) {
      // The process closed its stdin early; what it did not read is dropped, as in a shell pipe.
    }
  }

  private void read(InputStream in, Pipe pipe) {
    IO.execute(() -> {
      byte[] buf = new byte[64 * 1024];
      boolean keep = true;
      try (in) {
        int n;
        while ((n = in.read(buf)) >= 0) {
          pipe.lastActive = System.nanoTime();
          // Once the stream is over for the sink (it refused more, or the pipe was given up), what
          // is left is read and dropped, so that a child holding the pipe never blocks on it.
          if (keep && pipe.beginWrite()) {
            try {
              keep = pipe.sink.write(buf, 0, n);
            } finally {
              pipe.wrote();
            }
          }
        }
      } catch (IOException | InterruptedException e) {
        // The pipe was closed under us: the stream is over.
      } finally {
        pipe.end();
      }
    });
  }

  private void exited() {
    Reaper.disown(process.pid());
    exitedAt = System.nanoTime();
    CompletableFuture.allOf(stdout.eof, stderr.eof).thenRun(this::complete);
    watch();
  }

  /** After the exit: gives up pipes that stay silent for the grace, until both streams ended. */
  private void watch() {
    if (done.isDone()) {
      return;
    }
    long grace = TimeUnit.MILLISECONDS.toNanos(PIPE_GRACE_MS);
    stdout.giveUpIfSilent(exitedAt, grace);
    stderr.giveUpIfSilent(exitedAt, grace);
    if (stdout.eof.isDone() && stderr.eof.isDone()) {
      complete();
      return;
    }
    CompletableFuture.delayedExecutor(PIPE_GRACE_MS / 4, TimeUnit.MILLISECONDS)
        .execute(this::watch);
  }

  private void complete() {
    done.complete(process.exitValue());
  }

  public ProcessHandle handle() {
    return process.toHandle();
  }

  /** Completes with the exit code (128 + N for a process killed by signal N). */
  public CompletableFuture<Integer> done() {
    return done;
  }

  /** True until the started process itself has exited (its descendants may live on). */
  public boolean isAlive() {
    return process.isAlive();
  }

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

  /** SIGTERM to the process and everything it started. */
  public CompletableFuture<Void> terminateTree() {
    return Containment.get().signal(List.of(cell), Posix.SIGTERM);
  }
}
