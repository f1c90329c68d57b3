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
 * One started command: no shell, its own stdin, stdout and stderr pipes, each stream read by its
 * own thread into an {@link OutputSink}. {@link #done()} completes with the exit code once the
 * process has exited and its output was read.
 */
public final class RunProcess {
  /** Once the process has exited, how long its pipes may stay open (held by a background child). */
  private static final long PIPE_GRACE_MS = 200;

  private static final ExecutorService IO = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 30,
      TimeUnit.SECONDS, new SynchronousQueue<>(), r -> {
        Thread t = new Thread(null, r, "run-io", 256 * 1024);
        t.setDaemon(true);
        return t;
      });

  private final Process process;
  private final CompletableFuture<Void> stdoutDone = new CompletableFuture<>();
  private final CompletableFuture<Void> stderrDone = new CompletableFuture<>();
  private final CompletableFuture<Integer> done = new CompletableFuture<>();

  private RunProcess(Process process) {
    this.process = process;
  }

  /** Starts the command. Blocking (a fork and exec); call it off any event loop. */
  public static RunProcess start(List<String> command, String cwd, Map<String, String> env,
      byte[] stdin, OutputSink stdout, OutputSink stderr) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(command);
    if (cwd != null) {
      pb.directory(new java.io.File(cwd));
    }
    if (env != null) {
      pb.environment().putAll(env);
    }
    if (stdin == null) {
      pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    }
    RunProcess rp = new RunProcess(pb.start());
    rp.pipe(rp.process.getInputStream(), stdout, rp.stdoutDone);
    rp.pipe(rp.process.getErrorStream(), stderr, rp.stderrDone);
    if (stdin != null) {
      IO.execute(() -> rp.feed(stdin));
    }
    rp.process.onExit().thenRun(rp::exited);
    return rp;
  }

  private void feed(byte[] stdin) {
    try (OutputStream out = process.getOutputStream()) {
      out.write(stdin);
    } catch (IOException e) {
      // The process closed its stdin early; what it did not read is dropped, as in a shell pipe.
    }
  }

  private void pipe(InputStream in, OutputSink sink, CompletableFuture<Void> eof) {
    IO.execute(() -> {
      byte[] buf = new byte[64 * 1024];
      boolean keep = true;
      try (in) {
        int n;
        while ((n = in.read(buf)) >= 0) {
          if (keep) {
            keep = sink.write(buf, 0, n);
          }
        }
      } catch (IOException | InterruptedException e) {
        // The pipe was closed under us: the stream is over.
      } finally {
        sink.finish();
        eof.complete(null);
      }
    });
  }

  private void exited() {
    CompletableFuture.allOf(stdoutDone, stderrDone)
        .completeOnTimeout(null, PIPE_GRACE_MS, TimeUnit.MILLISECONDS)
        .thenRun(() -> done.complete(process.exitValue()));
  }

  public ProcessHandle handle() {
    return process.toHandle();
  }

  /** Completes with the exit code (128 + N for a process killed by signal N). */
  public CompletableFuture<Integer> done() {
    return done;
  }

  /** Kills the process and every descendant with SIGKILL. */
  public void killTree() {
    ProcessTree.kill(process.toHandle());
  }

  /** SIGTERM to the whole tree. */
  public void terminateTree() {
    ProcessTree.terminate(process.toHandle());
  }
}
