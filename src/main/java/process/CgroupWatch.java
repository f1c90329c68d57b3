package process;

import com.sun.jna.Memory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import log.Log;
import sys.LibC;
import sys.Threads;

/**
 * Tells when a cell's cgroup changes, so that it is removed once its last process is gone: one
 * inotify descriptor watches the {@code cgroup.events} file of every cell that waits to empty,
 * and one thread (started with the first watch) reads it. Nothing is polled.
 */
final class CgroupWatch {
  private final Consumer<Containment.Cell> changed;
  private final Map<Integer, Containment.Cell> cells = new ConcurrentHashMap<>();
  private int fd = -1;
  private boolean failed;
  private volatile boolean closed;

  CgroupWatch(Consumer<Containment.Cell> changed) {
    this.changed = changed;
  }

  /** Watches the cell's cgroup; returns the watch descriptor, or -1 where watching fails. */
  int add(Containment.Cell cell) {
    int f = start();
    if (f < 0) {
      return -1;
    }
    int wd = LibC.inotify_add_watch(f, cell.dir.resolve("cgroup.events").toString(),
        LibC.IN_MODIFY);
    if (wd >= 0) {
      cells.put(wd, cell);
    }
    return wd;
  }

  /** Stops watching the cell (its cgroup is gone; the kernel dropped the watch with it). */
  void forget(Containment.Cell cell) {
    if (cell.watchId >= 0) {
      cells.remove(cell.watchId, cell);
    }
  }

  synchronized int start() {
    if (fd >= 0 || failed || closed) {
      return fd;
    }
    String why;
    try {
      fd = LibC.inotify_init1(LibC.IN_CLOEXEC);
      why = fd < 0 ? LibC.strerror(LibC.errno()) : null;
    } catch (LinkageError e) {
      // No C library bound (JNA could not load): errno cannot be asked either.
      fd = -1;
      why = String.valueOf(e);
    }
    if (fd < 0) {
      failed = true;
      Log.warn("cgroup_watch_unavailable", "error", why);
      return -1;
    }
    Threads.start("cgroup-watch", Threads.SMALL_STACK, this::loop);
    return fd;
  }

  private void loop() {
    byte[] buf = new byte[4096];
    Memory mem = new Memory(buf.length);
    while (!closed) {
      long n = LibC.read(fd, mem, buf.length);
      if (n > 0) {
        mem.read(0, buf, 0, (int) n);
      }
      if (n <= 0) {
        if (n < 0 && LibC.errno() == LibC.EINTR) {
          continue;
        }
        return;
      }
      ByteBuffer b = ByteBuffer.wrap(buf, 0, (int) n).order(ByteOrder.nativeOrder());
      while (b.remaining() >= 16) {
        int wd = b.getInt();
        int mask = b.getInt();
        b.getInt();
        int len = b.getInt();
        b.position(Math.min(b.limit(), b.position() + len));
        Containment.Cell cell = (mask & LibC.IN_IGNORED) != 0 ? cells.remove(wd) : cells.get(wd);
        if (cell != null && (mask & LibC.IN_MODIFY) != 0) {
          try {
            changed.accept(cell);
          } catch (RuntimeException e) {
            Log.warn("cgroup_watch_failed", "error", e.toString());
          }
        }
      }
    }
  }

  /** Shutdown: the thread is a daemon and ends with the agent; no more watches are set. */
  void close() {
    closed = true;
  }
}
