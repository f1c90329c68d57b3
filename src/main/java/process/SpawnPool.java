package process;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import log.Log;
import sys.Threads;

/**
 * The spawning threads: a few, and a few more only while all of those are stuck.
 *
 * <p>A spawn holds its thread until the child has exec'd, and an exec (or the look at a working
 * directory) on a file system that hangs, such as a network mount whose server is gone, never
 * ends until the run is killed. With a fixed pool, as many such runs as threads would stop every
 * other run of every host. So when every thread has been in one spawn for {@link #STUCK_MS} or
 * more and work waits, one more thread is started, up to {@link #EXTRA} more; each goes once it
 * has had nothing to do for {@link #IDLE_SECONDS}. Spawns that end in time never add a thread,
 * however many are queued, and an idle agent checks nothing.
 */
final class SpawnPool extends ThreadPoolExecutor {
  /** How long one spawn may hold its thread before the thread counts as stuck. */
  static final long STUCK_MS = 500;
  /** Threads started beyond the core ones, at most, while those are stuck. */
  static final int EXTRA = 8;
  /** How long an extra thread stays without work ({@code -Dagent.spawn.idle_seconds}). */
  static final long IDLE_SECONDS = Long.getLong("agent.spawn.idle_seconds", 30);

  /** When each busy thread started its task, in {@link System#nanoTime()}. */
  private final Map<Thread, Long> busy = new ConcurrentHashMap<>();
  private final AtomicBoolean checkArmed = new AtomicBoolean();

  /** A queue that refuses work while every thread is stuck, so that the pool starts another. */
  private static final class Queue extends LinkedBlockingQueue<Runnable> {
    private SpawnPool pool;

    @Override
    public boolean offer(Runnable task) {
      if (pool.allStuck() && pool.getPoolSize() < pool.getMaximumPoolSize()) {
        Log.warn("spawn_stuck", "threads", pool.getPoolSize(), "detail", "every spawning thread"
            + " has waited " + STUCK_MS + " ms or more for its child's exec: one more starts");
        return false;
      }
      boolean queued = super.offer(task);
      pool.checkLater();
      return queued;
    }

    void offerAnyway(Runnable task) {
      super.offer(task);
    }
  }

  static SpawnPool create(int threads) {
    Queue queue = new Queue();
    SpawnPool pool = new SpawnPool(threads, queue);
    queue.pool = pool;
    return pool;
  }

  private SpawnPool(int threads, Queue queue) {
    super(threads, threads + EXTRA, IDLE_SECONDS, TimeUnit.SECONDS, queue, r ->
        Threads.daemon("process-spawn", Threads.STACK, () -> {
          try {
            r.run();
          } finally {
            // An extra thread that goes takes its gate with it.
            NativeSpawn.threadEnds();
          }
        }),
        // At the most threads, all stuck: the work waits for one of them.
        (task, pool) -> ((Queue) pool.getQueue()).offerAnyway(task));
  }

  @Override
  protected void beforeExecute(Thread t, Runnable r) {
    busy.put(t, System.nanoTime());
  }

  @Override
  protected void afterExecute(Runnable r, Throwable t) {
    busy.remove(Thread.currentThread());
  }

  /** Whether every thread of the pool is in a spawn that has lasted {@link #STUCK_MS} or more. */
  boolean allStuck() {
    int threads = getPoolSize();
    if (threads == 0 || busy.size() < threads) {
      return false;
    }
    long now = System.nanoTime();
    for (long since : busy.values()) {
      if (now - since < TimeUnit.MILLISECONDS.toNanos(STUCK_MS)) {
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
      CompletableFuture.delayedExecutor(STUCK_MS, TimeUnit.MILLISECONDS).execute(this::check);
    }
  }

  private void check() {
    checkArmed.set(false);
    if (getQueue().isEmpty() || isShutdown()) {
      return;
    }
    if (allStuck()) {
      Runnable task = getQueue().poll();
      if (task != null) {
        // Refused by the queue now, so the pool starts a thread for it.
        execute(task);
      }
    }
    checkLater();
  }
}
