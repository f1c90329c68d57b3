package process;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * A process on a terminal of its own, started and watched by the same engine as a run: with the
 * native engine its terminal master is one more descriptor in the {@link Reactor} and its exit
 * comes from the {@link Reaper}, so a session costs no thread.
 *
 * <p>The output goes to the sink given at the start; after the process exits the sink takes what
 * the terminal still holds (at most {@link #MAX_TAIL_AFTER_EXIT}) and then hears the end, even
 * if a background job keeps the terminal open.
 */
public abstract class Terminal {
  /**
   * After the process exits, the terminal still holds what it wrote last; the engine takes that,
   * but no more than this, so that a background job that keeps writing cannot hold back the end
   * of the output for ever.
   */
  public static final long MAX_TAIL_AFTER_EXIT = 1024 * 1024;

  /**
   * Starts {@code command} with exactly the environment {@code env}. {@code onExit} hears the exit
   * code (128 + N after signal N) before the sink hears the end of the output. Blocking.
   */
  public static Terminal start(List<String> command, String cwd, Map<String, String> env,
      int cols, int rows, String tag, OutputSink output, IntConsumer onExit) throws IOException {
    Reaper.becomeSubreaper();
    Launcher.logEngineOnce();
    Launcher.checkOpen();
    if (NativeSpawn.available()) {
      return NativeTerminal.open(command, cwd, env, cols, rows, tag, output, onExit);
    }
    return Pty4jTerminal.open(command, cwd, env, cols, rows, tag, output, onExit);
  }

  public abstract long pid();

  /** Writes to the terminal after what is queued; {@code done} hears null or the error. */
  public abstract void write(byte[] data, Consumer<IOException> done);

  /** Sets the window size; {@code done} hears null or the error. */
  public abstract void resize(int cols, int rows, Consumer<Exception> done);

  /** Closes the terminal (the agent's side): the output ends, queued input fails. */
  public abstract void close();

  /** The native engine's terminal. */
  private static final class NativeTerminal extends Terminal {
    private final int pid;
    private final Channel channel;

    private NativeTerminal(int pid, Channel channel) {
      this.pid = pid;
      this.channel = channel;
    }

    static Terminal open(List<String> command, String cwd, Map<String, String> env, int cols,
        int rows, String tag, OutputSink output, IntConsumer onExit) throws IOException {
      String[] envp = env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
          .toArray(String[]::new);
      Reactor reactor = Reactor.get();
      // The process may exit before its channel exists: the end of the output waits for it.
      java.util.concurrent.CompletableFuture<Channel> ch =
          new java.util.concurrent.CompletableFuture<>();
      // The output ends once the terminal is drained and, even when it is drained first (its
      // last user closed it), only after the exit was told.
      java.util.concurrent.atomic.AtomicInteger toEnd =
          new java.util.concurrent.atomic.AtomicInteger(2);
      Runnable endOne = () -> {
        if (toEnd.decrementAndGet() == 0) {
          output.finish();
        }
      };
      // On a spawning thread, as a run is: each of those few threads has a gate (see Gate).
      NativeSpawn.Child c = Launcher.onSpawningThread(() -> NativeSpawn.startTerminal(command,
          cwd, envp, cols, rows, (pid, t) -> {
            // Registered before the spawn ends: an exit before that waits until it has.
            Reaper.watch((int) pid, code -> {
              onExit.accept(code);
              endOne.run();
              ch.thenAccept(channel -> channel.endWhenDrained(MAX_TAIL_AFTER_EXIT));
            });
          }, tag));
      OutputSink held = new OutputSink() {
        @Override
        public long room(Waker waker) {
          return output.room(waker);
        }

        @Override
        public boolean write(byte[] b, int off, int len) {
          return output.write(b, off, len);
        }

        @Override
        public void finish() {
          endOne.run();
        }
      };
      Channel channel = new Channel(reactor, c.stdout(), held, null, true);
      channel.start();
      ch.complete(channel);
      return new NativeTerminal(c.pid(), channel);
    }

    @Override
    public long pid() {
      return pid;
    }

    @Override
    public void write(byte[] data, Consumer<IOException> done) {
      channel.write(data, done);
    }

    @Override
    public void resize(int cols, int rows, Consumer<Exception> done) {
      channel.withFd(fd -> {
        try {
          NativeSpawn.resize(fd, cols, rows);
          done.accept(null);
        } catch (IOException e) {
          done.accept(e);
        }
      }, () -> done.accept(new IOException("the terminal is closed")));
    }

    @Override
    public void close() {
      channel.close();
    }
  }
}
