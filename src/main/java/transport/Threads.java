package transport;

/** Dedicated daemon threads with a small stack, for blocking loops. */
public final class Threads {
  private static final long STACK = 256 * 1024;

  private Threads() {}

  public static Thread start(String name, Runnable body) {
    Thread t = new Thread(null, body, name, STACK);
    t.setDaemon(true);
    t.start();
    return t;
  }
}
