package process;

import com.sun.jna.Memory;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import sys.LibC;
import sys.Threads;

/**
 * One thread that waits, with one epoll set, on every pipe and terminal of every process the agent
 * started: however many runs and sessions are in flight, they cost descriptors, not threads.
 *
 * <p>Handlers run on the reactor thread and must not block. Other threads hand work to it with
 * {@link #execute(Runnable)} (an eventfd wakes it) and delays with {@link #schedule}; nothing is
 * scheduled while nothing waits for a delay, so an idle agent does no periodic work here.
 */
final class Reactor implements Poller {
  private static final int MAX_EVENTS = 256;

  private static volatile Reactor instance;
  /** The epoll_event argument of {@link #registerFrom}, one per calling thread. */
  private static final ThreadLocal<Memory> FOREIGN_ARG =
      ThreadLocal.withInitial(() -> new Memory(16));

  private final int epfd;
  private final int wakeFd;
  private final Memory events = new Memory((long) MAX_EVENTS * LibC.EPOLL_EVENT_SIZE);
  private final Memory eventArg = new Memory(16);
  private final Memory wakeBuf = new Memory(8);
  /** The native buffer that reads and writes go through; used on the reactor thread only. */
  private final Memory buffer = new Memory(BUFFER);
  /** Written by the reactor thread, and by {@link #registerFrom} on other threads. */
  private final Map<Integer, Handler> handlers = new ConcurrentHashMap<>();
  private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean woken = new AtomicBoolean();
  private final PriorityQueue<Timer> timers = new PriorityQueue<>();
  private final Thread thread;
  private long timerSeq;

  /** A delayed task. */
  private record Timer(long deadline, long seq, Runnable task) implements Comparable<Timer> {
    @Override
    public int compareTo(Timer o) {
      int c = Long.compare(deadline, o.deadline);
      return c != 0 ? c : Long.compare(seq, o.seq);
    }
  }

  private Reactor() {
    epfd = LibC.epoll_create1(LibC.EPOLL_CLOEXEC);
    if (epfd < 0) {
      throw new IllegalStateException("epoll_create1: " + LibC.strerror(LibC.errno()));
    }
    wakeFd = LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
    if (wakeFd < 0) {
      throw new IllegalStateException("eventfd: " + LibC.strerror(LibC.errno()));
    }
    ctl(LibC.EPOLL_CTL_ADD, wakeFd, LibC.EPOLLIN);
    thread = Threads.daemon("process-reactor", Threads.STACK, this::loop);
  }

  /** The reactor, started on first use. */
  static Reactor get() {
    Reactor r = instance;
    if (r == null) {
      synchronized (Reactor.class) {
        r = instance;
        if (r == null) {
          r = new Reactor();
          r.thread.start();
          instance = r;
        }
      }
    }
    return r;
  }

  @Override
  public Memory buffer() {
    return buffer;
  }

  @Override
  public boolean inThread() {
    return Thread.currentThread() == thread;
  }

  /** Watches {@code fd} for {@code interest}; reactor thread only. */
  @Override
  public void register(int fd, int interest, Handler h) {
    handlers.put(fd, h);
    if (ctl(LibC.EPOLL_CTL_ADD, fd, interest) != 0) {
      handlers.remove(fd);
      throw new IllegalStateException("epoll_ctl: " + LibC.strerror(LibC.errno()));
    }
  }

  /**
   * Watches {@code fd} for {@code interest} from a thread other than the reactor's, without waking
   * it: epoll takes the descriptor at once, and the reactor finds the handler when the descriptor
   * is first reported. The handler's state must be complete before the call, and from then on
   * belongs to the reactor thread.
   */
  @Override
  public void registerFrom(int fd, int interest, Handler h) {
    if (inThread()) {
      register(fd, interest, h);
      return;
    }
    handlers.put(fd, h);
    Memory arg = FOREIGN_ARG.get();
    arg.setInt(0, interest);
    arg.setLong(LibC.EPOLL_DATA_OFFSET, fd);
    if (LibC.epoll_ctl(epfd, LibC.EPOLL_CTL_ADD, fd, arg) != 0) {
      handlers.remove(fd);
      throw new IllegalStateException("epoll_ctl: " + LibC.strerror(LibC.errno()));
    }
  }

  /** Changes what {@code fd} is watched for; reactor thread only. */
  @Override
  public void modify(int fd, int interest) {
    ctl(LibC.EPOLL_CTL_MOD, fd, interest);
  }

  /** Stops watching {@code fd}, leaving it open; reactor thread only. */
  @Override
  public void unwatch(int fd) {
    if (handlers.remove(fd) != null) {
      ctl(LibC.EPOLL_CTL_DEL, fd, 0);
    }
  }

  private int ctl(int op, int fd, int interest) {
    eventArg.setInt(0, interest);
    eventArg.setLong(LibC.EPOLL_DATA_OFFSET, fd);
    return LibC.epoll_ctl(epfd, op, fd, eventArg);
  }

  /**
   * Runs {@code task} on the reactor thread, after what is already queued. Wakes the reactor only
   * if it waits in epoll: while it is awake, it takes the task before it waits again.
   */
  @Override
  public void execute(Runnable task) {
    tasks.add(task);
    if (!inThread() && woken.compareAndSet(false, true)) {
      wakeBuf.setLong(0, 1);
      LibC.write(wakeFd, wakeBuf, 8);
    }
  }

  /** Runs {@code task} on the reactor thread after {@code delayMs}. */
  @Override
  public void schedule(long delayMs, Runnable task) {
    long deadline = System.nanoTime() + delayMs * 1_000_000;
    execute(() -> add(deadline, task));
  }

  /**
   * {@link #schedule} on the reactor thread itself; what it returns takes the timer back, so
   * that it does not wake the reactor for nothing.
   */
  @Override
  public Runnable scheduleHere(long delayMs, Runnable task) {
    Timer t = add(System.nanoTime() + delayMs * 1_000_000, task);
    return () -> timers.remove(t);
  }

  /** On the reactor thread. */
  private Timer add(long deadline, Runnable task) {
    Timer t = new Timer(deadline, timerSeq++, task);
    timers.add(t);
    return t;
  }

  private void loop() {
    Memory wakeRead = new Memory(8);
    while (true) {
      int timeout = -1;
      Timer next = timers.peek();
      if (next != null) {
        long left = next.deadline() - System.nanoTime();
        timeout = left <= 0 ? 0 : (int) Math.max(1, (left + 999_999) / 1_000_000);
      }
      // Other threads write the wake-up descriptor only once this is false; tasks queued while
      // it was true are seen here, before waiting.
      woken.set(false);
      int n = tasks.isEmpty() ? LibC.epoll_wait(epfd, events, MAX_EVENTS, timeout)
          : LibC.epoll_wait(epfd, events, MAX_EVENTS, 0);
      woken.set(true);
      for (int i = 0; i < n; i++) {
        long base = (long) i * LibC.EPOLL_EVENT_SIZE;
        int ev = events.getInt(base);
        int fd = (int) events.getLong(base + LibC.EPOLL_DATA_OFFSET);
        if (fd == wakeFd) {
          LibC.read(wakeFd, wakeRead, 8);
          continue;
        }
        Handler h = handlers.get(fd);
        if (h != null) {
          safely(() -> h.ready(ev));
        }
      }
      Runnable task;
      while ((task = tasks.poll()) != null) {
        safely(task);
      }
      long now = System.nanoTime();
      while (!timers.isEmpty() && timers.peek().deadline() - now <= 0) {
        safely(timers.poll().task());
      }
    }
  }

  private static void safely(Runnable r) {
    try {
      r.run();
    } catch (Throwable t) {
      log.Log.error("reactor_error", "error", String.valueOf(t));
    }
  }
}
