package verticles;

import com.sun.jna.Memory;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.epoll.EpollIoEvent;
import io.netty.channel.epoll.EpollIoHandle;
import io.netty.channel.epoll.EpollIoOps;
import io.netty.channel.unix.FileDescriptor;
import io.vertx.core.Context;
import io.vertx.core.internal.ContextInternal;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import log.Log;
import process.Poller;

/**
 * An event loop's own epoll set as a {@link Poller}: a run started on the loop has its pipes
 * watched there, so that their ends are read by the thread that answers the run, and the
 * {@link process.Reactor}'s thread is not woken for them. Only where the loop is Netty's native
 * epoll loop; {@code -Dagent.pipes.on_loop.off=true} leaves every pipe to the reactor.
 */
final class LoopPoller implements Poller {
  static final boolean OFF = Boolean.getBoolean("agent.pipes.on_loop.off");
  private static final java.util.concurrent.atomic.AtomicBoolean LOGGED =
      new java.util.concurrent.atomic.AtomicBoolean();

  private final IoEventLoop loop;
  private final Memory buffer = new Memory(BUFFER);
  /** The loop thread's only. */
  private final Map<Integer, IoRegistration> watched = new HashMap<>();

  private LoopPoller(IoEventLoop loop) {
    this.loop = loop;
  }

  /** The poller of {@code context}'s event loop, or null where it cannot be one. */
  static LoopPoller of(Context context) {
    Object l = context instanceof ContextInternal c ? c.nettyEventLoop() : null;
    // Its buffer and its reads are the C library's, through JNA.
    boolean usable = !OFF && l instanceof IoEventLoop e && e.isCompatible(Watch.class)
        && sys.LibC.available();
    if (!LOGGED.getAndSet(true)) {
      Log.info("run_pipes", "on", usable ? "event_loop" : "reactor", "detail", usable
          ? "a run started on an event loop has its pipes watched by that loop's epoll set"
          : "every run's pipes are watched by the reactor thread");
    }
    return usable ? new LoopPoller((IoEventLoop) l) : null;
  }

  /** One descriptor in the loop's set, told to its handler when ready. */
  private static final class Watch implements EpollIoHandle {
    private final FileDescriptor fd;
    private final Handler handler;

    Watch(int fd, Handler handler) {
      this.fd = new FileDescriptor(fd);
      this.handler = handler;
    }

    @Override
    public FileDescriptor fd() {
      return fd;
    }

    @Override
    public void handle(IoRegistration registration, IoEvent event) {
      try {
        handler.ready(((EpollIoEvent) event).ops().value());
      } catch (RuntimeException e) {
        Log.error("poller_error", "error", String.valueOf(e));
      }
    }

    /** The descriptor is the channel's to close ({@link LoopPoller#close}), never the loop's. */
    @Override
    public void close() {
    }
  }

  @Override
  public Memory buffer() {
    return buffer;
  }

  @Override
  public boolean inThread() {
    return loop.inEventLoop();
  }

  @Override
  public void execute(Runnable task) {
    loop.execute(() -> safely(task));
  }

  @Override
  public void schedule(long delayMs, Runnable task) {
    loop.schedule(() -> safely(task), delayMs, TimeUnit.MILLISECONDS);
  }

  @Override
  public Runnable scheduleHere(long delayMs, Runnable task) {
    ScheduledFuture<?> f = loop.schedule(() -> safely(task), delayMs, TimeUnit.MILLISECONDS);
    return () -> f.cancel(false);
  }

  @Override
  public void register(int fd, int interest, Handler h) {
    if (!inThread()) {
      throw new IllegalStateException("registered off the loop");
    }
    io.netty.util.concurrent.Future<IoRegistration> f = loop.register(new Watch(fd, h));
    // On the loop itself the registration is made at once.
    if (!f.isSuccess()) {
      throw new IllegalStateException("epoll registration: " + f.cause());
    }
    IoRegistration r = f.getNow();
    try {
      r.submit(EpollIoOps.valueOf(interest));
    } catch (RuntimeException e) {
      // Not left in the set, as the reactor leaves nothing of a registration that failed.
      r.cancel();
      throw new IllegalStateException("epoll registration: " + e);
    }
    watched.put(fd, r);
  }

  /** Only on the loop: a run started there. */
  @Override
  public void registerFrom(int fd, int interest, Handler h) {
    register(fd, interest, h);
  }

  @Override
  public void modify(int fd, int interest) {
    IoRegistration r = watched.get(fd);
    if (r != null) {
      r.submit(EpollIoOps.valueOf(interest));
    }
  }

  @Override
  public void unwatch(int fd) {
    IoRegistration r = watched.remove(fd);
    if (r != null) {
      r.cancel();
    }
  }

  private static void safely(Runnable task) {
    try {
      task.run();
    } catch (RuntimeException e) {
      Log.error("poller_error", "error", String.valueOf(e));
    }
  }
}
