package process;

import com.pty4j.WinSize;
import com.pty4j.unix.Pty;
import com.pty4j.unix.UnixPtyProcess;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import java.util.stream.Stream;
import sys.Threads;

/**
 * The fallback engine's terminal, where native spawning is unavailable: pty4j starts the process,
 * and a reader, a waiter and an input thread serve it.
 */
final class Pty4jTerminal extends Terminal {
  static {
    unpackIntoOwnFolder();
  }

  private final UnixPtyProcess process;
  private final OutputSink output;
  private final ExecutorService input;
  private volatile boolean exited;

  private Pty4jTerminal(UnixPtyProcess process, OutputSink output) {
    this.process = process;
    this.output = output;
    this.input = new ThreadPoolExecutor(0, 1, 10, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
        Threads.factory("pty-input"));
  }

  /**
   * Has pty4j unpack its library and spawn helper into a folder of this agent's own, removed when
   * the JVM exits normally. Left to itself, pty4j makes a new folder under the temporary
   * directory at each start and leaves it there. Unless {@code pty4j.tmpdir} is set already.
   */
  private static void unpackIntoOwnFolder() {
    if (System.getProperty("pty4j.tmpdir") != null) {
      return;
    }
    try {
      Path dir = Files.createTempDirectory("agent-pty4j");
      System.setProperty("pty4j.tmpdir", dir.toString());
      Runtime.getRuntime().addShutdownHook(new Thread(() -> remove(dir), "pty4j-folder"));
    } catch (IOException e) {
      // pty4j's own temporary folder, then.
    }
  }

  /** Removes {@code dir} and what pty4j unpacked into it (two levels at most). */
  private static void remove(Path dir) {
    try (Stream<Path> all = Files.walk(dir)) {
      for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException | java.io.UncheckedIOException e) {
      // Exiting: what cannot be removed stays.
    }
  }

  static Terminal open(List<String> command, String cwd, Map<String, String> env, int cols,
      int rows, String tag, OutputSink output, IntConsumer onExit) throws IOException {
    if (!Launcher.isDirectory(cwd)) {
      throw new IOException("No such directory: " + cwd);
    }
    Pty pty = new Pty(false);
    pty.setWindowSize(new WinSize(cols, rows), null);
    String[] envArray = env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
        .toArray(String[]::new);
    UnixPtyProcess process;
    Reaper.spawning().lock();
    try {
      process = new UnixPtyProcess(command.toArray(new String[0]), envArray, cwd, pty, null,
          false);
      // pty4j waits for this child itself: the reaper must leave its exit status alone.
      Reaper.own(process.pid());
      Launcher.spawned(process.pid(), tag);
    } finally {
      Reaper.spawning().unlock();
    }
    Pty4jTerminal t = new Pty4jTerminal(process, output);
    Thread reader = Threads.start("pty-read", t::readLoop);
    Threads.start("pty-wait", () -> t.waitLoop(reader, onExit));
    return t;
  }

  private void readLoop() {
    byte[] buf = new byte[64 * 1024];
    long afterExit = 0;
    try (InputStream in = process.getInputStream()) {
      int n;
      while ((n = in.read(buf)) >= 0) {
        int off = 0;
        boolean open = true;
        while (off < n && open) {
          Object lock = new Object();
          boolean[] woken = {false};
          OutputSink.Waker w = new OutputSink.Waker() {
            @Override
            public void wake() {
              synchronized (lock) {
                woken[0] = true;
                lock.notifyAll();
              }
            }

            @Override
            public void wakeAfter(long ms) {
              Threads.start("pty-pace", () -> {
                try {
                  Thread.sleep(ms);
                } catch (InterruptedException e) {
                  return;
                }
                wake();
              });
            }
          };
          long room = output.room(w);
          if (room <= 0) {
            synchronized (lock) {
              while (!woken[0]) {
                lock.wait();
              }
            }
            continue;
          }
          int len = (int) Math.min(room, n - off);
          open = output.write(buf, off, len);
          off += len;
        }
        if (!open || (exited && (afterExit += n) > MAX_TAIL_AFTER_EXIT)) {
          break;
        }
      }
    } catch (IOException | InterruptedException e) {
      // The terminal is gone: its output has ended.
    }
  }

  private void waitLoop(Thread reader, IntConsumer onExit) {
    int code;
    try {
      code = process.waitFor();
    } catch (InterruptedException e) {
      code = -1;
    }
    Reaper.disown(process.pid());
    Reaper.reapOrphans();
    exited = true;
    onExit.accept(code);
    try {
      reader.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    output.finish();
  }

  @Override
  public long pid() {
    return process.pid();
  }

  @Override
  public void write(byte[] data, Consumer<IOException> done) {
    OutputStream out = process.getOutputStream();
    input.execute(() -> {
      try {
        out.write(data);
        out.flush();
        done.accept(null);
      } catch (IOException ex) {
        done.accept(ex);
      }
    });
  }

  @Override
  public void resize(int cols, int rows, Consumer<Exception> done) {
    try {
      process.setWinSize(new WinSize(cols, rows));
      done.accept(null);
    } catch (RuntimeException ex) {
      done.accept(ex);
    }
  }

  @Override
  public void close() {
    input.shutdownNow();
  }
}
