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
import sys.Threads;

/**
 * A run on the fallback engine, where native spawning is unavailable: {@link ProcessBuilder}, each
 * stream read by its own thread into its {@link OutputSink}, the JDK waiting for the exit.
 */
final class JdkRun extends RunProcess {

  private static final ExecutorService IO = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 30,
      TimeUnit.SECONDS, new SynchronousQueue<>(), Threads.factory("run-io"));

  private final Process process;
  private final Pipe stdout;
  private final Pipe stderr;
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

  private JdkRun(Process process, Containment.Cell cell, OutputSink stdout, OutputSink stderr) {
    super(cell);
    this.process = process;
    this.stdout = new Pipe(stdout);
    this.stderr = new Pipe(stderr);
  }

  static JdkRun start(List<String> command, String cwd, Map<String, String> environment,
      byte[] stdin, OutputSink stdout, OutputSink stderr, Containment.Cell cell)
      throws IOException {
    Process process;
    Reaper.spawning().lock();
    try {
      process = jdkStart(command, cwd, environment, stdin == null);
      Reaper.own(process.pid());
      Launcher.spawned(process.pid(), cell.tag());
    } finally {
      Reaper.spawning().unlock();
    }
    JdkRun rp = new JdkRun(process, cell, stdout, stderr);
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
              keep = deliver(pipe.sink, buf, n);
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

  /** Hands {@code n} bytes to the sink, waiting for room as long as it has none. */
  private static boolean deliver(OutputSink sink, byte[] buf, int n) throws InterruptedException {
    int off = 0;
    while (off < n) {
      Waiter w = new Waiter();
      long room = sink.room(w);
      if (room <= 0) {
        w.await();
        continue;
      }
      int len = (int) Math.min(room, n - off);
      if (!sink.write(buf, off, len)) {
        return false;
      }
      off += len;
    }
    return true;
  }

  /** A reader thread waiting for room in its sink. */
  private static final class Waiter implements OutputSink.Waker {
    private boolean woken;
    private long until = Long.MAX_VALUE;

    @Override
    public synchronized void wake() {
      woken = true;
      notifyAll();
    }

    @Override
    public synchronized void wakeAfter(long ms) {
      until = System.nanoTime() + ms * 1_000_000;
    }

    synchronized void await() throws InterruptedException {
      while (!woken) {
        long left = until == Long.MAX_VALUE ? 0 : until - System.nanoTime();
        if (until != Long.MAX_VALUE && left <= 0) {
          return;
        }
        wait(until == Long.MAX_VALUE ? 0 : Math.max(1, left / 1_000_000));
      }
    }
  }

  private void exited() {
    Reaper.disown(process.pid());
    // Orphans this run left are reaped now, on notice of its exit, not on a timer.
    Reaper.reapOrphans();
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

  @Override
  public long pid() {
    return process.pid();
  }

  @Override
  public boolean isAlive() {
    return process.isAlive();
  }
}
