package cli;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/**
 * A one-line progress bar on stderr (progressbar, redrawn ten times a second) for put and get;
 * silent unless stderr is a terminal, so logs and pipes never see it.
 */
final class Progress implements AutoCloseable {
  private static final long MIB = 1024 * 1024;
  private final ProgressBar bar;

  /** {@code total} is the size in bytes, or -1 when it is not known (a copy from stdin). */
  Progress(String label, long total) {
    if (!Terminal.stderrIsTerminal()) {
      bar = null;
      return;
    }
    int width = Terminal.stderrWidth();
    bar = new ProgressBarBuilder().setTaskName(label).setInitialMax(total)
        .setUnit(" MiB", MIB).showSpeed().setUpdateIntervalMillis(100)
        .setConsumer(new ConsoleProgressBarConsumer(System.err, width > 20 ? width - 1 : 79))
        .build();
  }

  void advance(long bytes) {
    if (bar != null) {
      bar.stepBy(bytes);
    }
  }

  @Override
  public void close() {
    if (bar != null) {
      bar.close();
    }
  }
}
