package sys;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import log.Log;

/**
 * A few threads, and a few more only while all of those are stuck.
 *
 * <p>Some work can hold its thread for good: an exec or a file call on a file system that hangs,
 * such as a network mount whose server is gone, waits in the kernel until that file system comes
 * back, and often no kill ends the wait. With a fixed pool, as many such calls as threads would
 * stop all the other work. So when every thread has been in one task for the pool's stuck time or
 * more and work waits, one more thread is started, up to the pool's extra ones; each goes once it
 * has had nothing to do for the idle time. Work that ends in time never adds a thread, however
 * much is queued, and an idle pool checks nothing.
 *
 * <p>Once every thread, extra ones included, is stuck, the pool either keeps new work queued until
 * a thread comes back, or, if it was made with a refusal, hands each new task and each queued one
 * to that refusal at once, so that the caller can answer rather than wait.
 */
public final class ElasticPool extends ThreadPoolExecutor {
  /**
   * What a pool is: its threads' name, the prefix of what it logs ({@code <event>_stuck} as it
   * grows, {@code <event>_full} as it starts refusing), its threads, how many more it may start,
   * how long a task may run before its thread counts as stuck, and how long an extra thread
   * stays without work.
   */
  public record Shape(String threadName, String event, int threads, int extra, long stuckMs,
      long idleSeconds) {}

  private final Shape shape;
  private final long stuckNanos;
  /** What is done with a task no thread can take, or null to keep it queued. */
  private final Consumer<Runnable> refusal;

  /** When each busy thread started its task, in {@link System#nanoTime()}. */
  private final Map<Thread, Long> busy = new ConcurrentHashMap<>();
  private final AtomicBoolean checkArmed = new AtomicBoolean();
  /** Whether refusals are being logged already: once per streak of them. */
  private final AtomicBoolean refusing = new AtomicBoolean();

  /** A queue that refuses work while every thread is stuck, so that the pool starts another. */
  private static final class Queue extends LinkedBlockingQueue<Runnable> {
    private ElasticPool pool;

    @Override
    public boolean offer(Runnable task) {
      if (pool.allStuck()) {
        if (pool.getPoolSize() < pool.getMaximumPoolSize()) {
          Log.warn(pool.shape.event() + "_stuck", "threads", pool.getPoolSize(), "detail",
              "every thread has been in one task for " + pool.shape.stuckMs()
                  + " ms or more: one more starts");
          return false;
        }
        if (pool.refusal != null) {
          return false;
        }
      }
      boolean queued = super.offer(task);
      pool.checkLater();
      return queued;
    }

    void offerAnyway(Runnable task) {
      super.offer(task);
    }
  }

  /**
   * A pool of the given shape. {@code threadEnds} runs on each thread as it ends;
   * {@code refusal}, if not null, gets each task that no thread can take.
   */
  public static ElasticPool create(Shape shape, Runnable threadEnds,
      Consumer<Runnable> refusal) {
    Queue queue = new Queue();
    ElasticPool pool = new ElasticPool(shape, threadEnds, refusal, queue);
    queue.pool = pool;
    return pool;
  }

  private ElasticPool(Shape shape, Runnable threadEnds, Consumer<Runnable> refusal,
      Queue queue) {
    super(shape.threads(), shape.threads() + shape.extra(), shape.idleSeconds(), TimeUnit.SECONDS,
        queue, r -> Threads.daemon(shape.threadName(), Threads.STACK, () -> {
          try {
            r.run();
          } finally {
            threadEnds.run();
          }
        }),
        (task, pool) -> ((ElasticPool) pool).noThreadFor(task));
    this.shape = shape;
    this.stuckNanos = TimeUnit.MILLISECONDS.toNanos(shape.stuckMs());
    this.refusal = refusal;
  }

  @Override
  protected void beforeExecute(Thread t, Runnable r) {
    busy.put(t, System.nanoTime());
  }

  @Override
  protected void afterExecute(Runnable r, Throwable t) {
    busy.remove(Thread.currentThread());
    if (refusing.get()) {
      refusing.set(false);
      Log.info(shape.event() + "_freed", "detail", "a stuck thread came back: work is taken again");
    }
  }

  /** Every thread, extra ones included, is stuck, or the pool is shut down. */
  private void noThreadFor(Runnable task) {
    if (refusal == null && !isShutdown()) {
      ((Queue) getQueue()).offerAnyway(task);
      return;
    }
    if (refusing.compareAndSet(false, true)) {
      Log.warn(shape.event() + "_full", "threads", getPoolSize(), "detail", "every thread is stuck:"
          + " new work is refused until one comes back");
    }
    refusal.accept(task);
  }

  /** Whether every thread of the pool is in a task that has lasted the stuck time or more. */
  public boolean allStuck() {
    int threads = getPoolSize();
    if (threads == 0 || busy.size() < threads) {
      return false;
    }
    long now = System.nanoTime();
    for (long since : busy.values()) {
      if (now - since < stuckNanos) {
        return false;
      }
    }
    return true;
  }

  /**
   * Work waits: looks again once a thread would count as stuck, since no later work may come to
   * make the pool grow. One look at a time, and none once nothing waits.
   */
  private void checkLater() {
    if (!getQueue().isEmpty() && checkArmed.compareAndSet(false, true)) {
      CompletableFuture.delayedExecutor(stuckNanos, TimeUnit.NANOSECONDS).execute(this::check);
    }
  }

  private void check() {
    checkArmed.set(false);
    if (isShutdown()) {
      return;
    }
    // Each waiting task is handed on again, to a new thread or to the refusal, while every
    // thread stays stuck; with no refusal, only while another thread may start.
    while (allStuck() && (getPoolSize() < getMaximumPoolSize() || refusal != null)) {
      Runnable task = getQueue().poll();
      if (task == null) {
        return;
      }
      execute(task);
    }
    checkLater();
  }
}
