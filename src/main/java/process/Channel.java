package process;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.function.Consumer;
import sys.LibC;

/**
 * One non-blocking descriptor of a started process, watched by a {@link Poller} (the
 * {@link Reactor}, or the event loop its run was started on): a pipe we read (stdout, stderr), a
 * pipe we write (stdin), or a terminal master, which is both. Every method hands its work to the
 * poller's thread, where all of this object's state lives.
 *
 * <p>Reading asks the sink for room first: a full sink takes the descriptor out of the epoll set
 * until the sink wakes it, so the process blocks on its own write and nothing piles up here.
 */
final class Channel implements Poller.Handler, OutputSink.Waker {
  /** Reads per readiness before others get their turn. */
  private static final int ROUNDS = 8;

  private final Poller poller;
  private final int fd;
  private boolean watching;
  private int interest;
  private boolean closed;

  // The read side.
  private final OutputSink sink;
  private final Runnable onSinkDone;
  private boolean readOpen;
  private boolean sinkDone;
  private boolean paused;
  private boolean discarding;
  /** Once the process has exited (terminal): end when nothing more is buffered. */
  private boolean endWhenEmpty;
  private long tailLeft = Long.MAX_VALUE;
  /** A resume is queued; set by any thread (see {@link #wake()}). */
  private final java.util.concurrent.atomic.AtomicBoolean wakeQueued =
      new java.util.concurrent.atomic.AtomicBoolean();
  /** When bytes last came, or the sink last made room (nanoTime). Read by other threads. */
  volatile long lastActive = System.nanoTime();

  // The write side.
  private final ArrayDeque<Out> out = new ArrayDeque<>();
  private boolean writeOpen;
  private boolean closeWriteWhenDone;

  private static final class Out {
    final byte[] data;
    final Consumer<IOException> done;
    int off;

    Out(byte[] data, Consumer<IOException> done) {
      this.data = data;
      this.done = done;
    }
  }

  /**
   * A channel on {@code fd} (already non-blocking). With a sink it reads into it, calling
   * {@code onSinkDone} once the sink has heard the end; with {@code writable} it takes writes.
   */
  Channel(Poller poller, int fd, OutputSink sink, Runnable onSinkDone, boolean writable) {
    this.poller = poller;
    this.fd = fd;
    this.sink = sink;
    this.onSinkDone = onSinkDone;
    this.readOpen = sink != null;
    this.sinkDone = sink == null;
    this.writeOpen = writable;
  }

  /** Starts watching; from any thread. */
  void start() {
    poller.execute(this::update);
  }

  /**
   * Starts reading at once from the calling thread, without waking the poller (see
   * {@link Poller#registerFrom}). For a channel that only reads, before anything else uses it;
   * after this call it belongs to the poller's thread.
   */
  void startReading() {
    if (writeOpen || !readOpen) {
      throw new IllegalStateException("not a read-only channel");
    }
    watching = true;
    interest = LibC.EPOLLIN;
    poller.registerFrom(fd, LibC.EPOLLIN, this);
  }

  // ---------------------------------------------------------------- reading

  @Override
  public void ready(int events) {
    if ((events & LibC.EPOLLOUT) != 0 || (!readOpen && (events & (LibC.EPOLLHUP
        | LibC.EPOLLERR)) != 0)) {
      flush();
    }
    if ((events & (LibC.EPOLLIN | LibC.EPOLLHUP | LibC.EPOLLERR)) != 0) {
      readSome();
    }
  }

  private void readSome() {
    for (int round = 0; round < ROUNDS && readOpen && !paused; round++) {
      int want = Poller.BUFFER;
      if (!discarding) {
        long room = sink.room(this);
        if (room <= 0) {
          paused = true;
          update();
          return;
        }
        want = (int) Math.min(room, want);
      }
      long n = LibC.read(fd, poller.buffer(), want);
      if (n > 0) {
        lastActive = System.nanoTime();
        if (!discarding) {
          byte[] b = poller.buffer().getByteArray(0, (int) n);
          if (!sink.write(b, 0, b.length)) {
            // The sink wants no more: what is left is read and dropped, so that a process
            // holding the pipe never blocks on it.
            discarding = true;
            finishSink();
          }
        }
        if (endWhenEmpty && (tailLeft -= n) <= 0) {
          endRead();
          return;
        }
        continue;
      }
      int err = n == 0 ? 0 : LibC.errno();
      if (err == LibC.EINTR) {
        continue;
      }
      if (err == LibC.EAGAIN) {
        if (endWhenEmpty) {
          endRead();
        }
        return;
      }
      // End of file, or EIO from a terminal whose last user closed it: the stream is over.
      endRead();
      return;
    }
  }

  @Override
  public void wake() {
    if (wakeQueued.compareAndSet(false, true)) {
      poller.execute(this::resume);
    }
  }

  @Override
  public void wakeAfter(long ms) {
    poller.schedule(ms, this::resume);
  }

  private void resume() {
    wakeQueued.set(false);
    if (paused && readOpen) {
      paused = false;
      lastActive = System.nanoTime();
      update();
      // Level-triggered: if bytes wait, the next epoll_wait reports them.
    }
  }

  private void finishSink() {
    if (!sinkDone) {
      sinkDone = true;
      sink.finish();
      if (onSinkDone != null) {
        onSinkDone.run();
      }
    }
  }

  private void endRead() {
    if (readOpen) {
      readOpen = false;
      paused = false;
      finishSink();
      update();
    }
  }

  /**
   * The process has exited and the stream has been silent for the grace: the sink hears of its
   * end now; anything a background process still writes is read and dropped. Poller's thread.
   */
  void giveUpIfSilent(long sinceNanos, long graceNanos) {
    if (!sinkDone && !paused
        && System.nanoTime() - Math.max(sinceNanos, lastActive) >= graceNanos) {
      discarding = true;
      finishSink();
    }
  }

  /**
   * The process has exited (a terminal): take what the terminal still holds, at most
   * {@code maxTail} bytes, then end, even if a background job keeps the terminal open.
   */
  void endWhenDrained(long maxTail) {
    poller.execute(() -> {
      endWhenEmpty = true;
      tailLeft = maxTail;
      if (readOpen && !paused) {
        readSome();
      }
    });
  }

  // ---------------------------------------------------------------- writing

  /** Writes {@code data} after what is queued; {@code done} hears null or the error. */
  void write(byte[] data, Consumer<IOException> done) {
    poller.execute(() -> {
      if (!writeOpen || closeWriteWhenDone) {
        done.accept(new IOException("the input is closed"));
        return;
      }
      out.add(new Out(data, done));
      flush();
    });
  }

  /** Closes the write side once everything queued was written (end of a run's stdin). */
  void closeWriteWhenWritten() {
    poller.execute(() -> {
      closeWriteWhenDone = true;
      flush();
    });
  }

  private void flush() {
    while (writeOpen && !out.isEmpty()) {
      Out o = out.peek();
      int len = Math.min(Poller.BUFFER, o.data.length - o.off);
      if (len == 0) {
        out.poll();
        o.done.accept(null);
        continue;
      }
      poller.buffer().write(0, o.data, o.off, len);
      long n = LibC.write(fd, poller.buffer(), len);
      if (n >= 0) {
        o.off += (int) n;
        continue;
      }
      int err = LibC.errno();
      if (err == LibC.EINTR) {
        continue;
      }
      if (err == LibC.EAGAIN) {
        break;
      }
      // The reader is gone (EPIPE, or EIO from a terminal): what was not read is dropped.
      failWrites(new IOException(LibC.strerror(err)));
    }
    if (writeOpen && out.isEmpty() && closeWriteWhenDone) {
      writeOpen = false;
    }
    update();
  }

  private void failWrites(IOException e) {
    writeOpen = false;
    Out o;
    while ((o = out.poll()) != null) {
      o.done.accept(e);
    }
  }

  // ---------------------------------------------------------------- the descriptor

  /** Closes the descriptor now: the sink hears the end, queued writes fail. From any thread. */
  void close() {
    poller.execute(() -> {
      readOpen = false;
      finishSink();
      failWrites(new IOException("closed"));
      update();
    });
  }

  /** Runs {@code task} on the poller's thread with the descriptor, if it is still open. */
  void withFd(java.util.function.IntConsumer task, Runnable ifClosed) {
    poller.execute(() -> {
      if (closed) {
        ifClosed.run();
      } else {
        task.accept(fd);
      }
    });
  }

  /** Brings the epoll registration in line with what is wanted; closes when nothing is. */
  private void update() {
    if (closed) {
      return;
    }
    if (!readOpen && !writeOpen) {
      closed = true;
      watching = false;
      poller.close(fd);
      return;
    }
    int want = (readOpen && !paused ? LibC.EPOLLIN : 0)
        | (writeOpen && !out.isEmpty() ? LibC.EPOLLOUT : 0);
    if (want == interest && watching) {
      return;
    }
    if (want == 0) {
      // Out of the set altogether: a hung-up descriptor would otherwise be reported for ever.
      if (watching) {
        poller.unwatch(fd);
        watching = false;
      }
    } else if (!watching) {
      poller.register(fd, want, this);
      watching = true;
    } else {
      poller.modify(fd, want);
    }
    interest = want;
  }
}
