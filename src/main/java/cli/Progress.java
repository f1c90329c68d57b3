package cli;

import java.io.PrintStream;

/**
 * A one-line progress bar on stderr, redrawn at most ten times a second; silent unless stderr is
 * a terminal, so logs and pipes never see it.
 */
final class Progress implements AutoCloseable {
  private static final int WIDTH = 30;
  private final String label;
  private final long total;
  private final boolean enabled;
  private final PrintStream err = System.err;
  private long done;
  private long lastDraw;
  private long drawn = -1;

  Progress(String label, long total) {
    this.label = label;
    this.total = total;
    this.enabled = Terminal.isTerminal(2);
  }

  void advance(long bytes) {
    done += bytes;
    long now = System.nanoTime();
    if (enabled && now - lastDraw > 100_000_000L) {
      lastDraw = now;
      draw();
    }
  }

  private void draw() {
    StringBuilder b = new StringBuilder("\r").append(label).append(' ');
    if (total > 0) {
      int filled = (int) Math.min(WIDTH, done * WIDTH / total);
      b.append('[').append("=".repeat(filled)).append(" ".repeat(WIDTH - filled)).append("] ");
      b.append(String.format("%3d%% ", done * 100 / total));
    }
    b.append(mib(done));
    if (total >= 0) {
      b.append(" / ").append(mib(total));
    }
    err.print(b);
    err.flush();
    drawn = done;
  }

  private static String mib(long bytes) {
    return String.format("%.1f MiB", bytes / (1024.0 * 1024.0));
  }

  @Override
  public void close() {
    if (enabled) {
      if (drawn != done) {
        draw();
      }
      err.println();
    }
  }
}
