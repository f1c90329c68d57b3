package process;

import com.sun.jna.Memory;

/**
 * The one thread that waits on a set of descriptors and tells their {@link Channel}s when they are
 * ready: the {@link Reactor}, or the event loop a run was started on (whose own epoll set then
 * holds the run's pipes, so that their ends wake no other thread). Every method but
 * {@link #execute}, {@link #schedule} and {@link #inThread} is for that thread only.
 */
public interface Poller {
  /** Told when its descriptor is ready; runs on the poller's thread. */
  interface Handler {
    void ready(int events);
  }

  /** Bytes read or written at a time, through {@link #buffer()}. */
  int BUFFER = 64 * 1024;

  /** A native buffer of {@link #BUFFER} bytes for reads and writes on the poller's thread. */
  Memory buffer();

  boolean inThread();

  /** Runs {@code task} on the poller's thread, after what is already queued; from any thread. */
  void execute(Runnable task);

  /** Runs {@code task} on the poller's thread after {@code delayMs}; from any thread. */
  void schedule(long delayMs, Runnable task);

  /** {@link #schedule} on the poller's thread; running what it returns takes the task back. */
  Runnable scheduleHere(long delayMs, Runnable task);

  /** Watches {@code fd} for {@code interest} (epoll's bits). */
  void register(int fd, int interest, Handler h);

  /**
   * As {@link #register}, where the poller allows it from another thread too (the handler's state
   * must then be complete, and belong to the poller's thread from this call on).
   */
  void registerFrom(int fd, int interest, Handler h);

  /** Changes what {@code fd} is watched for. */
  void modify(int fd, int interest);

  /** Stops watching {@code fd}, leaving it open. */
  void unwatch(int fd);

  /**
   * Stops watching {@code fd}, then closes it. The registration is deleted first: closing alone
   * would not end it while another process holds the same pipe, as every child being spawned on
   * another thread does until its spawn closes the descriptors above 2. Such a left-over
   * registration keeps reporting the number, and once the number is reused by a new run's pipe
   * its events reach that run's handler, which may then find the new pipe ended and close it
   * while its starting thread is still adding it to the set.
   */
  default void close(int fd) {
    unwatch(fd);
    sys.LibC.close(fd);
  }
}
