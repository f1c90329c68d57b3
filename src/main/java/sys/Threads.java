package sys;

import java.util.concurrent.ThreadFactory;

/**
 * The agent's own threads: daemons (they never keep the agent alive), named for what they do, and
 * with a small stack, since each runs one loop or one short task.
 */
public final class Threads {
  /** The stack of a thread that runs agent code: a loop, a spawn, a kill. */
  public static final long STACK = 256 * 1024;
  /** The stack of a thread that only waits in one system call and hands the result on. */
  public static final long SMALL_STACK = 128 * 1024;

  private Threads() {}

  /** A daemon thread, not started yet. */
  public static Thread daemon(String name, long stack, Runnable body) {
    Thread t = new Thread(null, body, name, stack);
    t.setDaemon(true);
    return t;
  }

  /** Starts a daemon thread with the usual stack. */
  public static Thread start(String name, Runnable body) {
    return start(name, STACK, body);
  }

  public static Thread start(String name, long stack, Runnable body) {
    Thread t = daemon(name, stack, body);
    t.start();
    return t;
  }

  /** A factory of daemon threads, all called {@code name}, for a pool. */
  public static ThreadFactory factory(String name) {
    return r -> daemon(name, STACK, r);
  }
}
