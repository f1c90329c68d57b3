package process;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import log.Log;
import sys.LibC;
import sys.Threads;

/**
 * Holds a child between its fork and its exec until it is in its cell, so that nothing it runs
 * ever runs outside its cgroup's {@code pids.max} and {@code cgroup.kill}.
 *
 * <p>The C library this agent needs (glibc 2.34) cannot start a child in a cgroup (that came with
 * 2.39), and a move after {@code posix_spawnp} returns races the child: on a machine that wakes
 * the spawning thread on another CPU, many short commands have run, and may have forked, before
 * it. So a spawn that wants a cell opens two FIFOs for reading as its first file actions, and an
 * open for reading waits until the FIFO has a writer:
 * <ol>
 *   <li>at the first, the gate's own thread (the keeper) learns that the child exists, since its
 *       own open for writing, waiting there already, returns. The child is then the newest entry
 *       of the spawning thread's {@code children} in /proc (the kernel appends new children), and
 *       the keeper moves it into its cell;</li>
 *   <li>at the second, the child waits until the keeper opens it too, after the move.</li>
 * </ol>
 * The child's later file actions put its real standard input on descriptor 0 over the FIFOs.
 *
 * <p>Each spawn has a pair of FIFOs of its own. A descriptor the keeper opens is copied into any
 * child that another spawning thread forks at that moment, and holds the FIFO open until that
 * child's {@code closefrom}: a FIFO used again could then let a later child through before its
 * move. The FIFOs have no name: each is made in a private directory, held by an {@code O_PATH}
 * descriptor and unlinked at once, and opened through {@code /proc/self/fd}, which the child (with
 * a copy of the agent's descriptors until its {@code closefrom}) can do too. The keeper makes the
 * next pair as soon as a child is through, while that child execs.
 *
 * <p>One gate per spawning thread, each with one keeper thread: the pool is fixed, so the thread
 * count is too. A child that never reaches the first FIFO (its clone failed, or it was killed
 * first) leaves the keeper waiting there; the spawning thread, back from {@code posix_spawnp},
 * opens that FIFO itself to free it, and places the child after the fact, as without a gate.
 * Something else that opens a gate's FIFO through {@code /proc/PID/fd} (root can) can stall that
 * spawning thread; it could also kill the agent.
 */
final class Gate {
  /**
   * Off with {@code -Dagent.spawn.gate=false}: processes are then moved right after their spawn,
   * and the sweeps bring in what they forked before.
   */
  static final boolean ON = !"false".equals(System.getProperty("agent.spawn.gate"));
  private static final AtomicBoolean LOGGED = new AtomicBoolean();
  /** The last try to make a gate failed: logged once until one is made again. */
  private static final AtomicBoolean FAILING = new AtomicBoolean();
  /** The kernel lists no children in /proc: no gate is tried again. */
  private static volatile boolean impossible;
  /**
   * The private directories of the gates open now: removed when the gate closes, at the agent's
   * exit (one hook for all), or before a halt. Not {@code deleteOnExit}, which would keep the name
   * of every gate that ever was, and gates come and go with extra spawning threads.
   */
  private static final java.util.Set<Path> DIRS = java.util.concurrent.ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(Gate::removeDirectories, "gate-folders"));
  }

  /** No spawn is waiting for the keeper. */
  private static final int IDLE = 0;
  /** A spawn is under way with the current pair: the child at its first FIFO is that spawn's. */
  private static final int ARMED = 1;
  /** The keeper took the spawn's child and is placing and releasing it. */
  private static final int TAKEN = 2;

  /** Two FIFOs for one spawn, held by O_PATH descriptors. */
  private record Pair(int first, int second, String firstPath, String secondPath) {
    void close() {
      LibC.close(first);
      LibC.close(second);
    }
  }

  private final Path dir;
  /** {@code children} of the spawning thread, held open. */
  private final int children;
  private final AtomicInteger state = new AtomicInteger(IDLE);
  /** The pair the keeper waits on, for the next spawn; null while it makes one. */
  private volatile Pair ready;
  /** The keeper could not make the next pair: spawns go without the gate until it can. */
  private volatile boolean unavailable;
  private volatile Thread keeper;
  /** The spawning thread has ended: the keeper ends too. */
  private volatile boolean closed;
  /** The pair of the spawn under way, on the spawning thread. */
  private Pair armed;
  /** Whether the keeper waits at the second FIFO now. */
  private volatile boolean atSecond;
  private volatile String tag;
  /** The pid the keeper placed for the current spawn, or 0. */
  private volatile long placed;
  private int made;
  private byte[] buf = new byte[4096];

  private Gate(Path dir, int children) {
    this.dir = dir;
    this.children = children;
  }

  /**
   * A gate for the calling (spawning) thread, or null where one cannot be made: then that
   * thread's children are placed after their spawn. Where the kernel has no /proc children file
   * none is ever tried again; where the directory or the first FIFOs cannot be made (no inode or
   * descriptor left, which the VM's code can cause), the thread's next spawn tries again.
   */
  static Gate forThisThread() {
    if (impossible) {
      return null;
    }
    int tid = LibC.Spawn.gettid();
    int children = LibC.openat(LibC.AT_FDCWD,
        LibC.c("/proc/self/task/" + tid + "/children"), LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
    if (children < 0) {
      int errno = LibC.errno();
      impossible = errno == LibC.ENOENT;
      failed(LibC.strerror(errno));
      return null;
    }
    Path dir = null;
    try {
      dir = Files.createTempDirectory(place(), "agent-gate",
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
      Gate gate = new Gate(dir, children);
      // The first pair is made here, so that a gate that cannot make one is never used.
      gate.ready = gate.makePair();
      DIRS.add(dir);
      gate.keeper = Threads.start("process-gate", Threads.SMALL_STACK, gate::keep);
      if (FAILING.getAndSet(false)) {
        Log.info("spawn_gate", "detail", "a gate could be made again");
      } else if (!LOGGED.getAndSet(true)) {
        Log.info("spawn_gate", "detail", "each process waits between its fork and its exec until"
            + " it is in its cgroup");
      }
      return gate;
    } catch (IOException | RuntimeException e) {
      LibC.close(children);
      if (dir != null) {
        remove(dir);
      }
      failed(String.valueOf(e));
      return null;
    }
  }

  /** Logs a failure to make a gate, once until one is made again. */
  private static void failed(String error) {
    if (!FAILING.getAndSet(true)) {
      Log.warn("spawn_gate_unavailable", "error", error, "detail", impossible
          ? "processes are placed after their spawn"
          : "processes are placed after their spawn until a gate can be made");
    }
  }

  /**
   * Where the FIFOs are made: /dev/shm where it is a writable directory, since on a memory file
   * system making and unlinking one costs about 7 µs against 34 µs on ext4 here; else the
   * temporary directory.
   */
  private static Path place() {
    Path shm = Path.of("/dev/shm");
    if (Files.isDirectory(shm) && Files.isWritable(shm)) {
      return shm;
    }
    return Path.of(System.getProperty("java.io.tmpdir"));
  }

  private Pair makePair() throws IOException {
    int a = fifo();
    int b;
    try {
      b = fifo();
    } catch (IOException e) {
      LibC.close(a);
      throw e;
    }
    return new Pair(a, b, "/proc/self/fd/" + a, "/proc/self/fd/" + b);
  }

  /** A new FIFO with no name, held by an O_PATH descriptor. */
  private int fifo() throws IOException {
    byte[] name = LibC.c(dir.resolve(Integer.toString(made++)).toString());
    if (LibC.Spawn.mkfifo(name, 0600) != 0) {
      throw new IOException("cannot make a FIFO: " + LibC.strerror(LibC.errno()));
    }
    int fd = LibC.openat(LibC.AT_FDCWD, name, LibC.O_PATH | LibC.O_CLOEXEC, 0);
    int errno = LibC.errno();
    LibC.unlinkat(LibC.AT_FDCWD, name, 0);
    if (fd < 0) {
      throw new IOException("cannot open a FIFO: " + LibC.strerror(errno));
    }
    return fd;
  }

  /**
   * Adds the two file actions that hold the next child at the gate; call before any other file
   * action, and then {@link #arm} right before the spawn. Returns false, adding nothing, when the
   * keeper cannot make FIFOs now (no inode or descriptor left): that spawn goes without the gate,
   * and is moved after it starts, rather than wait for room that something in the VM may hold.
   */
  boolean addTo(com.sun.jna.Memory fa) {
    // The pair stays ready until a spawn's child, or a poke after one, has opened it. It is
    // made while the last child execs, so it is seldom waited for.
    Pair p;
    for (int i = 0; (p = ready) == null; i++) {
      if (unavailable) {
        // Asks the keeper to try again, for the next spawn.
        LockSupport.unpark(keeper);
        return false;
      }
      pause(i);
    }
    armed = p;
    LibC.Spawn.posix_spawn_file_actions_addopen(fa, 0, p.firstPath, LibC.O_RDONLY, 0);
    LibC.Spawn.posix_spawn_file_actions_addopen(fa, 0, p.secondPath, LibC.O_RDONLY, 0);
    return true;
  }

  /** Right before the spawn: the child at the gate goes into the cell of {@code tag}. */
  void arm(String tag) {
    this.tag = tag;
    placed = 0;
    state.set(ARMED);
  }

  /**
   * After the spawn, whatever its outcome: returns the pid the keeper placed (0 for none). If the
   * child never reached the first FIFO, the keeper still waits there, and is freed here; if it
   * was killed between the two, the keeper waits at the second, and is freed here too.
   */
  long finish() {
    Pair p = armed;
    armed = null;
    try {
      if (state.compareAndSet(ARMED, IDLE)) {
        for (int i = 0; ready == p; i++) {
          poke(p.firstPath);
          pause(i);
        }
        return 0;
      }
      for (int i = 0; state.get() != IDLE; i++) {
        if (atSecond) {
          poke(p.secondPath);
        }
        pause(i);
      }
      return placed;
    } finally {
      // Closed here, after the last poke: a descriptor number closed earlier could be taken by
      // another file, which a poke would then open.
      p.close();
    }
  }

  private static void pause(int i) {
    if (i < 100) {
      Thread.onSpinWait();
    } else {
      LockSupport.parkNanos(50_000);
    }
  }

  /** Opens a FIFO for reading without waiting, which frees a writer waiting for a reader. */
  private static void poke(String path) {
    int fd = LibC.openat(LibC.AT_FDCWD, LibC.c(path),
        LibC.O_RDONLY | LibC.O_NONBLOCK | LibC.O_CLOEXEC, 0);
    if (fd >= 0) {
      LibC.close(fd);
    }
  }

  /**
   * The keeper: waits at the first FIFO of the ready pair for the spawn's child (or a poke),
   * places the child, lets it through the second, then makes the next pair.
   */
  private void keep() {
    while (true) {
      Pair p = ready;
      waitForReader(p.firstPath);
      if (closed) {
        // Woken by the closing thread, which closes the pairs once the keeper has ended.
        return;
      }
      boolean took = state.compareAndSet(ARMED, TAKEN);
      if (took) {
        try {
          long pid = newestChild();
          // A child the agent knows already would mean the new one is not listed: never moved.
          if (pid > 0 && !Reaper.unreaped(pid) && Launcher.placeEarly(pid, tag)) {
            placed = pid;
          }
        } catch (RuntimeException e) {
          Log.warn("spawn_gate_failed", "error", String.valueOf(e));
        } finally {
          atSecond = true;
          waitForReader(p.secondPath);
          atSecond = false;
        }
      }
      // Otherwise a poke: the spawn ended without its child reaching the gate.
      // The spawning thread closes the pair, once it no longer opens it.
      ready = null;
      if (took) {
        // The child is through: the spawning thread may go on (its next spawn waits for the
        // next pair). After a poke it waits for the pair to change instead.
        state.set(IDLE);
      }
      Pair next = null;
      for (int attempt = 0; next == null; attempt++) {
        try {
          next = makePair();
        } catch (IOException e) {
          // No inode left where the FIFOs are made (the VM's code can fill /dev/shm), or no
          // descriptor: spawns go without the gate meanwhile. Tried again when the next spawn
          // asks, so an idle agent does no periodic work.
          if (attempt == 0) {
            Log.warn("spawn_gate_failed", "error", e.getMessage());
          }
          unavailable = true;
          LockSupport.park(this);
          if (closed) {
            return;
          }
        }
      }
      if (unavailable) {
        unavailable = false;
        Log.info("spawn_gate", "detail", "FIFOs can be made again");
      }
      ready = next;
    }
  }

  /**
   * The spawning thread ends, with no spawn under way: ends the keeper, then gives back the
   * FIFOs, the children file and the directory. A keeper that does not end within a second (it
   * cannot open its FIFO for want of descriptors) is left, and logged.
   */
  void close() {
    closed = true;
    Thread k = keeper;
    java.util.Set<Pair> pairs = new java.util.HashSet<>();
    long deadline = System.nanoTime() + 1_000_000_000L;
    while (k.isAlive() && System.nanoTime() < deadline) {
      Pair p = ready;
      if (p != null) {
        pairs.add(p);
        poke(p.firstPath);
      }
      LockSupport.unpark(k);
      try {
        k.join(1);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    if (k.isAlive()) {
      Log.warn("spawn_gate_left", "detail", "the keeper of an ended spawning thread did not end");
      return;
    }
    Pair p = ready;
    if (p != null) {
      pairs.add(p);
    }
    // Each pair the keeper left: a spawn closes the pairs it used, and none was under way.
    pairs.forEach(Pair::close);
    LibC.close(children);
    remove(dir);
  }

  /**
   * Removes every gate's directory (each empty: its FIFOs are unlinked as soon as made), at the
   * agent's exit, or before a halt, where the exit's hooks do not run.
   */
  static void removeDirectories() {
    DIRS.forEach(Gate::remove);
  }

  private static void remove(Path dir) {
    DIRS.remove(dir);
    try {
      Files.deleteIfExists(dir);
    } catch (IOException e) {
      // Empty, and named as the agent's: left.
    }
  }

  /**
   * Opens a FIFO for writing and closes it again: returns once a reader (the child, or a poke)
   * has opened it, which frees that reader. An open that fails (out of descriptors) is tried
   * again, since the child cannot go on without it.
   */
  private static void waitForReader(String path) {
    byte[] name = LibC.c(path);
    for (int attempt = 0; ; attempt++) {
      int fd = LibC.openat(LibC.AT_FDCWD, name, LibC.O_WRONLY | LibC.O_CLOEXEC, 0);
      if (fd >= 0) {
        LibC.close(fd);
        return;
      }
      int errno = LibC.errno();
      if (errno != LibC.EINTR) {
        if (attempt == 0) {
          Log.warn("spawn_gate_failed", "error", LibC.strerror(errno));
        }
        LockSupport.parkNanos(10_000_000);
      }
    }
  }

  /** The last pid in the spawning thread's {@code children}, or 0. */
  private long newestChild() {
    long n;
    while ((n = LibC.pread(children, buf, buf.length, 0)) == buf.length) {
      buf = new byte[buf.length * 2];
    }
    if (n <= 0) {
      return 0;
    }
    int end = (int) n;
    while (end > 0 && (buf[end - 1] < '0' || buf[end - 1] > '9')) {
      end--;
    }
    int start = end;
    while (start > 0 && buf[start - 1] >= '0' && buf[start - 1] <= '9') {
      start--;
    }
    long pid = 0;
    for (int i = start; i < end; i++) {
      pid = pid * 10 + (buf[i] - '0');
    }
    return pid;
  }
}
