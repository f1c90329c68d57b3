package process;

import java.util.ArrayList;
import java.util.List;

/**
 * A loop whose delayed tasks wait until the test runs them, in the order they were set; tasks for
 * now run at once.
 */
final class RecordingLoop implements Loop {
  final List<Runnable> scheduled = new ArrayList<>();
  final List<Long> delays = new ArrayList<>();

  @Override
  public void execute(Runnable task) {
    task.run();
  }

  @Override
  public long schedule(long delayMs, Runnable task) {
    scheduled.add(task);
    delays.add(delayMs);
    return scheduled.size();
  }

  @Override
  public void cancel(long timer) {
    throw new AssertionError("no task here is cancelled");
  }
}
