package process;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The one thread that owns a run or a session: tasks run on it now, or after a delay. The agent's
 * are Vert.x contexts; a plain scheduled executor serves where there is no Vert.x.
 */
public interface Loop extends Executor {
  /** Runs {@code task} on this loop after {@code delayMs}; returns what {@link #cancel} takes. */
  long schedule(long delayMs, Runnable task);

  /** Cancels a task {@link #schedule} set, unless it has run. */
  void cancel(long timer);

  /**
   * This loop's own {@link Poller}, for the pipes of runs started on it; null where it has none
   * (the runs' pipes are then the {@link Reactor}'s). Called on the loop.
   */
  default Poller poller() {
    return null;
  }

  /** A loop on {@code executor}, which should have one thread. */
  static Loop of(ScheduledExecutorService executor) {
    Map<Long, ScheduledFuture<?>> timers = new ConcurrentHashMap<>();
    AtomicLong ids = new AtomicLong();
    return new Loop() {
      @Override
      public void execute(Runnable task) {
        executor.execute(task);
      }

      @Override
      public long schedule(long delayMs, Runnable task) {
        long id = ids.incrementAndGet();
        timers.put(id, executor.schedule(() -> {
          timers.remove(id);
          task.run();
        }, delayMs, TimeUnit.MILLISECONDS));
        return id;
      }

      @Override
      public void cancel(long timer) {
        ScheduledFuture<?> f = timers.remove(timer);
        if (f != null) {
          f.cancel(false);
        }
      }
    };
  }
}
