package process;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import sys.LibC;

/**
 * Starts a command with glibc's {@code posix_spawnp}, in a session (and so a process group) of its
 * own, with its standard streams on pipes or on a new terminal: what {@link ProcessBuilder} cannot
 * do, since it can neither start a new session nor avoid the JDK's helper exec on recent JDKs.
 *
 * <p>The child gets default signal dispositions and an empty signal mask, whatever the agent's
 * own (under {@code nohup}, SIGHUP is ignored in the agent, never in its children), starts in its
 * working directory, and inherits no descriptor but its standard streams. The agent's ends are
 * non-blocking, for the {@link Reactor}; the exit status is collected by the {@link Reaper}.
 * Where the C library lacks what this needs (glibc before 2.34, musl), or JNA is missing,
 * {@link #available()} is false and callers use {@link ProcessBuilder}.
 */
final class NativeSpawn {
  private static final short POSIX_SPAWN_SETSIGDEF = 0x04;
  private static final short POSIX_SPAWN_SETSIGMASK = 0x08;
  private static final short POSIX_SPAWN_SETSID = 0x80;
  private static final short POSIX_SPAWN_SETSCHEDULER = 0x20;
  /** Larger than glibc's posix_spawn_file_actions_t (80), posix_spawnattr_t (336), sigset_t. */
  private static final int STRUCT_BYTES = 512;
  /** glibc's sigset_t: 1024 bits. */
  private static final int SIGSET_BYTES = 128;

  private static final boolean AVAILABLE = probe();

  private NativeSpawn() {}

  private static boolean probe() {
    // LibC.Spawn binds only where the C library has every function this needs (the newest,
    // posix_spawn_file_actions_addclosefrom_np, came with glibc 2.34).
    return !Boolean.getBoolean("agent.spawn.jdk") && LibC.available() && LibC.Spawn.available();
  }

  static boolean available() {
    return AVAILABLE;
  }

  /**
   * A started child: its pid and the agent's ends (-1 where there is none); {@code unconfirmed}
   * where its exec was not waited for (null where it is known to run its command).
   */
  record Child(int pid, int stdin, int stdout, int stderr, Unconfirmed unconfirmed) {}

  /** What a spawn started: the pid, and whether its exec is still to be confirmed. */
  private record Spawned(int pid, Unconfirmed unconfirmed) {}

  /**
   * A start asked not to wait would have had to: its child could not be cloned into its cell
   * (no cell directory, or the clone was refused). Nothing was started; the caller starts it on
   * a spawning thread instead.
   */
  static final class WouldWait extends IOException {
    private static final long serialVersionUID = 1L;

    WouldWait() {
      super("this start would wait for its exec");
    }
  }

  /**
   * A run's child cloned into its cell without waiting for its exec (see
   * {@link ExecHelper#cloneChild}). The memory it reads until then (its stack, its parameters,
   * its argv and environment) stays its own until the reaper has collected it; its error word
   * then says whether its command ever ran. Given back for later spawns, a few kept.
   */
  static final class Unconfirmed {
    static final int KEEP = 32;
    private static final java.util.concurrent.ConcurrentLinkedQueue<Unconfirmed> FREE =
        new java.util.concurrent.ConcurrentLinkedQueue<>();
    private static final java.util.concurrent.atomic.AtomicInteger FREE_COUNT =
        new java.util.concurrent.atomic.AtomicInteger();

    final ExecHelper.CloneMemory memory = new ExecHelper.CloneMemory(ExecHelper.SMALL_STACK);
    /** Grown to what a run's argv and environment need (most need a few KiB). */
    final Packed packed = new Packed(4 * 1024);
    private String cwd;

    static Unconfirmed take(String cwd) {
      Unconfirmed u = FREE.poll();
      if (u != null) {
        FREE_COUNT.decrementAndGet();
      } else {
        u = new Unconfirmed();
      }
      u.cwd = cwd;
      return u;
    }

    /**
     * Once the child has been reaped: why its command never ran, or null if it ran (or was killed
     * before either). The memory is free for another spawn from here on.
     */
    IOException settle() {
      int error = memory.errorWord();
      IOException failure = error == 0 ? null : startFailure(error, cwd);
      giveBack();
      return failure;
    }

    /** No child uses the memory (any more). */
    void giveBack() {
      packed.trim();
      if (FREE_COUNT.incrementAndGet() <= KEEP) {
        FREE.add(this);
      } else {
        FREE_COUNT.decrementAndGet();
        // Freed now, not when a collection finds it: a burst of runs allocates far more native
        // memory than heap, so collections can come too seldom to free it in time. The C
        // library keeps what is freed for later, until it is trimmed once the agent is quiet.
        memory.close();
        packed.close();
        MemoryTrim.wanted();
      }
    }
  }

  /**
   * Starts {@code command} on pipes; {@code env} holds the complete environment. With
   * {@code stdinFromNull} the child reads /dev/null. Throws an IOException worded like the C
   * library's error (program not found, directory missing, ...). With {@code neverWait} the
   * child is cloned into its cell and its exec is not waited for, or nothing is started and
   * {@link WouldWait} is thrown: such a start does not block, whatever the program's file system
   * does.
   */
  static Child start(List<String> command, String cwd, String[] env, boolean stdinFromNull,
      SpawnListener listener, String tag, boolean neverWait) throws IOException {
    checkName(cwd);
    int[][] p = new int[3][];
    try {
      p[0] = stdinFromNull ? null : pipe();
      p[1] = pipe();
      p[2] = pipe();
    } catch (IOException e) {
      // Out of descriptors: give back the pipes made so far.
      closeAll(p);
      throw e;
    }
    int[] in = p[0];
    int[] out = p[1];
    int[] err = p[2];
    Spawned spawned;
    try {
      spawned = spawn(command, cwd, env, fa -> {
        if (in == null) {
          LibC.Spawn.posix_spawn_file_actions_addopen(fa, 0, "/dev/null", LibC.O_RDONLY, 0);
        } else {
          LibC.Spawn.posix_spawn_file_actions_adddup2(fa, in[0], 0);
        }
        LibC.Spawn.posix_spawn_file_actions_adddup2(fa, out[1], 1);
        LibC.Spawn.posix_spawn_file_actions_adddup2(fa, err[1], 2);
      }, new int[] {in == null ? -1 : in[0], out[1], err[1]}, null, listener, tag, neverWait);
    } catch (IOException e) {
      closeAll(in, out, err);
      throw e;
    }
    // The child's ends belong to the child now.
    if (in != null) {
      LibC.close(in[0]);
      nonBlocking(in[1]);
    }
    LibC.close(out[1]);
    LibC.close(err[1]);
    nonBlocking(out[0]);
    nonBlocking(err[0]);
    return new Child(spawned.pid(), in == null ? -1 : in[1], out[0], err[0],
        spawned.unconfirmed());
  }

  /**
   * Starts {@code command} on a new terminal of {@code cols} x {@code rows}, which becomes its
   * controlling terminal. Returns the child with the terminal's master as stdin and stdout.
   */
  static Child startTerminal(List<String> command, String cwd, String[] env, int cols, int rows,
      SpawnListener listener, String tag) throws IOException {
    checkName(cwd);
    int master = LibC.posix_openpt(LibC.O_RDWR | LibC.O_NOCTTY | LibC.O_CLOEXEC);
    if (master < 0) {
      throw new IOException("cannot open a terminal: " + LibC.strerror(LibC.errno()));
    }
    try {
      byte[] name = new byte[128];
      if (LibC.grantpt(master) != 0 || LibC.unlockpt(master) != 0
          || LibC.ptsname_r(master, name, name.length) != 0) {
        throw new IOException("cannot open a terminal: " + LibC.strerror(LibC.errno()));
      }
      int len = 0;
      while (len < name.length && name[len] != 0) {
        len++;
      }
      String slave = new String(name, 0, len, StandardCharsets.US_ASCII);
      // The size is set before the process starts, so that the very first thing it asks (stty
      // size, a full-screen program) sees the right size, never 0 x 0.
      resize(master, cols, rows);
      int pid = spawn(command, cwd, env, fa -> {
        // Opened after setsid (glibc applies file actions after the session flags), without
        // O_NOCTTY: the terminal becomes the new session's controlling terminal.
        LibC.Spawn.posix_spawn_file_actions_addopen(fa, 0, slave, LibC.O_RDWR, 0);
        LibC.Spawn.posix_spawn_file_actions_adddup2(fa, 0, 1);
        LibC.Spawn.posix_spawn_file_actions_adddup2(fa, 0, 2);
      }, null, slave, listener, tag, false).pid();
      nonBlocking(master);
      return new Child(pid, master, master, -1, null);
    } catch (IOException | RuntimeException e) {
      LibC.close(master);
      throw e;
    }
  }

  /** Sets a terminal's window size (the kernel tells its foreground group with SIGWINCH). */
  static void resize(int master, int cols, int rows) throws IOException {
    Memory ws = new Memory(8);
    ws.setShort(0, (short) rows);
    ws.setShort(2, (short) cols);
    ws.setShort(4, (short) 0);
    ws.setShort(6, (short) 0);
    if (LibC.ioctl(master, LibC.TIOCSWINSZ, ws) != 0) {
      throw new IOException("cannot resize the terminal: " + LibC.strerror(LibC.errno()));
    }
  }

  private interface FileActions {
    void add(Memory fa);
  }

  /**
   * Native memory a spawning thread reuses: the file actions, the attributes, then argv and envp.
   * The attributes are the same for every child, so they are set once per thread and kept.
   */
  static final class Scratch {
    final Memory fa = new Memory(STRUCT_BYTES);
    final Memory attr = new Memory(STRUCT_BYTES);
    final int tid = LibC.Spawn.gettid();
    final Packed packed = new Packed(16 * 1024);
    /** The stack and arguments of a child cloned by {@link ExecHelper#cloneChild}. */
    final ExecHelper.CloneMemory clone = new ExecHelper.CloneMemory();
    private Gate gate;

    /**
     * This thread's gate, made on first use, and tried again at each use until one is made; null
     * where none can be made now or it is off.
     */
    Gate gate() {
      if (gate == null && Gate.ON) {
        gate = Gate.forThisThread();
      }
      return gate;
    }

    Scratch() {
      childAttributes(attr);
    }

    /** Frees all of it, once this thread starts no more children. */
    void close() {
      fa.close();
      attr.close();
      packed.close();
      clone.close();
    }
  }

  /**
   * Sets up {@code attr} (initialized here) as every child of the agent gets it: a session of its
   * own, every signal at its default and none blocked, and normal scheduling.
   */
  static void childAttributes(Memory attr) {
    Memory set = new Memory(STRUCT_BYTES);
    LibC.Spawn.posix_spawnattr_init(attr);
    LibC.Spawn.sigemptyset(set);
    LibC.Spawn.posix_spawnattr_setsigmask(attr, set);
    // Every signal back to its default. sigfillset leaves out the C library's own signals (32
    // and 33), and posix_spawn would then leave them ignored in the child, which keeps that
    // across exec: the set is filled by hand instead.
    set.setMemory(0, SIGSET_BYTES, (byte) 0xff);
    LibC.Spawn.posix_spawnattr_setsigdefault(attr, set);
    short flags = POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (Priority.raise()) {
      // The agent's threads are real-time; the child goes back to normal scheduling (policy
      // SCHED_OTHER, priority 0) before it execs, so nothing it runs can outrank anything.
      LibC.Spawn.posix_spawnattr_setschedpolicy(attr, Priority.SCHED_OTHER);
      flags |= POSIX_SPAWN_SETSCHEDULER;
    }
    LibC.Spawn.posix_spawnattr_setflags(attr, flags);
  }

  /**
   * argv and envp as two NULL-terminated pointer arrays followed by their strings, in one block of
   * native memory, reused from one spawn to the next (a block per string, as JNA's StringArray
   * makes, costs an allocation and a cleaner each).
   */
  static final class Packed {
    /**
     * What a block keeps from one spawn to the next: one grown past it for a large command (up to
     * what a request may hold) goes back to the C library once that spawn is over, so that the
     * blocks kept stay small whatever commands came before.
     */
    static final long KEPT_BYTES = 64 * 1024;

    private final int initial;
    private Memory strings;
    private long envAt;

    Packed(int bytes) {
      initial = bytes;
      strings = new Memory(bytes);
    }

    /** The native bytes this block holds now. */
    long size() {
      return strings.size();
    }

    /** No child reads the block any more: it shrinks back to its first size if it grew large. */
    void trim() {
      if (strings.size() > KEPT_BYTES) {
        strings.close();
        strings = new Memory(initial);
      }
    }

    /** Frees the block; nothing may use it afterwards. */
    void close() {
      strings.close();
    }

    /** Packs {@code argv} and {@code envp}, replacing what was packed before. */
    void pack(String[] argv, String[] envp) {
      byte[][] a = new byte[argv.length][];
      byte[][] e = new byte[envp.length][];
      long bytes = 8L * (argv.length + envp.length + 2);
      for (int i = 0; i < argv.length; i++) {
        a[i] = argv[i].getBytes(StandardCharsets.UTF_8);
        bytes += a[i].length + 1;
      }
      for (int i = 0; i < envp.length; i++) {
        e[i] = envp[i].getBytes(StandardCharsets.UTF_8);
        bytes += e[i].length + 1;
      }
      if (bytes > strings.size()) {
        strings = new Memory(Math.max(bytes, strings.size() * 2));
      }
      envAt = 8L * (argv.length + 1);
      long text = envAt + 8L * (envp.length + 1);
      text = put(a, 0, text);
      put(e, envAt, text);
    }

    Pointer argv() {
      return strings;
    }

    Pointer envp() {
      return strings.share(envAt);
    }

    private long put(byte[][] items, long table, long text) {
      long base = Pointer.nativeValue(strings);
      for (int i = 0; i < items.length; i++) {
        strings.setLong(table + 8L * i, base + text);
        strings.write(text, items[i], 0, items[i].length);
        strings.setByte(text + items[i].length, (byte) 0);
        text += items[i].length + 1;
      }
      strings.setLong(table + 8L * items.length, 0);
      return text;
    }
  }

  private static final ThreadLocal<Scratch> SCRATCH = new ThreadLocal<>();

  /** The calling thread's scratch memory, made on its first spawn. */
  static Scratch scratch() {
    Scratch scratch = SCRATCH.get();
    if (scratch == null) {
      scratch = new Scratch();
      SCRATCH.set(scratch);
    }
    return scratch;
  }

  /**
   * The calling spawning thread ends: its gate, if it made one, and its scratch memory go too (a
   * thread that never spawned has neither, and none is made for it here).
   */
  static void threadEnds() {
    Scratch scratch = SCRATCH.get();
    if (scratch == null) {
      return;
    }
    SCRATCH.remove();
    if (scratch.gate != null) {
      scratch.gate.close();
    }
    scratch.close();
  }

  /**
   * Starts a child. {@code actions} put its standard streams in place for {@code posix_spawn};
   * for a child the agent clones, {@code stdio} holds their descriptors (-1 for /dev/null on
   * stdin), or {@code tty} names the terminal it opens for all three.
   */
  private static Spawned spawn(List<String> command, String cwd, String[] env, FileActions actions,
      int[] stdio, String tty, SpawnListener listener, String tag, boolean neverWait)
      throws IOException {
    Scratch scratch = scratch();
    try {
      return spawn(command, cwd, env, actions, stdio, tty, listener, tag, neverWait, scratch);
    } finally {
      // Whatever way it went, no child reads this thread's block any more.
      scratch.packed.trim();
    }
  }

  private static Spawned spawn(List<String> command, String cwd, String[] env, FileActions actions,
      int[] stdio, String tty, SpawnListener listener, String tag, boolean neverWait,
      Scratch scratch) throws IOException {
    boolean placesEarly = tag != null && Launcher.placesEarly(tag);
    // -Dagent.spawn.gate=false: neither way, each child is moved right after its spawn.
    String helper = placesEarly && Gate.ON ? ExecHelper.path() : null;
    int[] cellFiles = helper != null ? Launcher.cellFiles(tag) : null;
    if (cellFiles != null) {
      return spawnPlacing(helper, cellFiles, command, cwd, env, actions, stdio, tty, listener,
          tag, scratch, neverWait);
    }
    if (neverWait) {
      throw new WouldWait();
    }
    Memory fa = scratch.fa;
    // With the helper in use, a cell whose files cannot be had now is placed after the spawn.
    Gate gate = placesEarly && helper == null ? scratch.gate() : null;
    LibC.Spawn.posix_spawn_file_actions_init(fa);
    try {
      // First: the child waits there until it is in its cell.
      if (gate != null && !gate.addTo(fa)) {
        gate = null;
      }
      actions.add(fa);
      LibC.Spawn.posix_spawn_file_actions_addclosefrom_np(fa, 3);
      if (cwd != null) {
        LibC.Spawn.posix_spawn_file_actions_addchdir_np(fa, cwd);
      }
      scratch.packed.pack(command.toArray(new String[0]), env);
      Pointer argv = scratch.packed.argv();
      Pointer envp = scratch.packed.envp();
      int[] pid = new int[1];
      int rc;
      // From the spawn until the reaper knows the pid, a child that exits at once is left
      // unreaped, so that it is never taken for an orphan. Nothing is held meanwhile.
      Reaper.spawnStarting(scratch.tid);
      try {
        long early = 0;
        if (gate != null) {
          gate.arm(tag);
        }
        try {
          rc = LibC.Spawn.posix_spawnp(pid, command.get(0), fa, scratch.attr, argv, envp);
        } finally {
          if (gate != null) {
            early = gate.finish();
          }
        }
        if (early != 0 && rc == 0 && early != pid[0]) {
          // Only if a process was handed to this thread as its child during the spawn.
          log.Log.warn("spawn_gate_mismatch", "pid", pid[0], "placed", early);
        }
        if (rc == 0) {
          listener.spawned(pid[0], tag);
        }
      } finally {
        Reaper.spawnEnded(scratch.tid);
      }
      if (rc != 0) {
        if (cwd != null && (rc == LibC.ENOENT || rc == LibC.ENOTDIR)) {
          // Looked at only now: the child's own chdir waited if its file system hangs, and
          // the kill that ends such a run ends that wait, where one on this thread would not.
          checkDirectory(cwd);
        }
        throw new IOException(LibC.strerror(rc) + " (os error " + rc + ")");
      }
      // Placed in its cell right away, on this thread, unless its gate placed it already.
      Launcher.spawned(pid[0], tag);
      return new Spawned(pid[0], null);
    } finally {
      LibC.Spawn.posix_spawn_file_actions_destroy(fa);
    }
  }

  /**
   * The directories {@code posix_spawnp} would look for a program in: the C library reads the
   * agent's own {@code PATH} for it (not the child's), or its default where there is none.
   */
  private static final String[] SEARCH = Optional.ofNullable(System.getenv("PATH"))
      .orElse("/bin:/usr/bin").split(":", -1);

  /**
   * A spawn through the {@link ExecHelper}: the child moves itself into its cell through
   * {@code cellFiles} (closed here), changes to {@code cwd} and looks for its program there,
   * where a kill reaches it. A run's child is cloned into its cell's cgroup directly, and not
   * waited for: whether its command ran is known once it has exited ({@link Unconfirmed}). A
   * session's child is cloned into its cgroup too, where the kernel allows it. Except for a run's
   * child, this thread learns that the command has exec'd, or why it failed, from the child's
   * error word once the clone returns, or from a pipe where the helper is exec'd.
   */
  private static Spawned spawnPlacing(String helper, int[] cellFiles, List<String> command,
      String cwd, String[] env, FileActions actions, int[] stdio, String tty,
      SpawnListener listener, String tag, Scratch scratch, boolean neverWait)
      throws IOException {
    String[] argv = helperArgv(helper, command, cwd);
    // The pid, then the error word.
    int[] child = new int[2];
    int rc = -1;
    Unconfirmed unconfirmed = null;
    int cellDirectory = ExecHelper.clonesIntoCells() ? Launcher.cellDirectory(tag) : -1;
    try {
      if (neverWait && (cellDirectory < 0 || tty != null)) {
        throw new WouldWait();
      }
      Reaper.spawnStarting(scratch.tid);
      try {
        if (cellDirectory >= 0 && tty == null) {
          unconfirmed = Unconfirmed.take(cwd);
          unconfirmed.packed.pack(argv, env);
          rc = ExecHelper.cloneChild(child, unconfirmed.memory, unconfirmed.packed.argv(),
              unconfirmed.packed.envp(), stdio, null, cellFiles, cellDirectory, false);
          if (rc != 0) {
            // Started nothing: the usual way instead.
            unconfirmed.giveBack();
            unconfirmed = null;
            if (neverWait) {
              throw new WouldWait();
            }
            rc = -1;
          }
        }
        if (rc < 0) {
          scratch.packed.pack(argv, env);
          // A session's child is born in its cell too, and waited for until its exec.
          if (tty != null && cellDirectory >= 0) {
            rc = ExecHelper.cloneChild(child, scratch.clone, scratch.packed.argv(),
                scratch.packed.envp(), stdio, tty, cellFiles, cellDirectory, true);
            // Refused: the usual way instead (nothing was started).
            rc = rc == 0 ? 0 : -1;
          }
          if (rc < 0) {
            rc = ExecHelper.cloneChild(child, scratch.clone, scratch.packed.argv(),
                scratch.packed.envp(), stdio, tty, cellFiles, -1, true);
          }
        }
        if (rc < 0) {
          // Where the agent cannot clone its own children.
          rc = spawnHelper(helper, cellFiles, actions, scratch.packed.argv(),
              scratch.packed.envp(), child, scratch);
        }
        if (rc == 0) {
          if (child[1] != 0) {
            // It exits at once: reaped here, before the reaper could take it for an orphan.
            LibC.waitpid(child[0], new int[1], 0);
          } else {
            Launcher.placedItself(child[0], tag);
            listener.spawned(child[0], tag);
          }
        }
      } finally {
        Reaper.spawnEnded(scratch.tid);
      }
    } finally {
      closeEach(cellFiles);
      if (cellDirectory >= 0) {
        LibC.close(cellDirectory);
      }
    }
    if (rc != 0) {
      throw new IOException(LibC.strerror(rc) + " (os error " + rc + ")");
    }
    if (child[1] != 0) {
      throw startFailure(child[1], cwd);
    }
    Launcher.spawned(child[0], tag);
    return new Spawned(child[0], unconfirmed);
  }

  /** The failure a child's error word tells (see {@link ExecHelper}), worded for the answer. */
  static IOException startFailure(int error, String cwd) {
    int errno = error & 0xffff;
    if ((error & ExecHelper.CHDIR) != 0 && (errno == LibC.ENOENT || errno == LibC.ENOTDIR)) {
      return new IOException("No such directory: " + cwd);
    }
    if ((error & ExecHelper.PLACING) != 0) {
      return new IOException("cannot move the process into its cgroup: "
          + LibC.strerror(errno) + " (os error " + errno + ")");
    }
    return new IOException(LibC.strerror(errno) + " (os error " + errno + ")");
  }

  /**
   * Where the agent cannot clone: {@code posix_spawn} starts the helper itself, with a pipe at 3
   * that its exec closes; the error word is read from it into {@code child[1]}. Returns 0 or the
   * errno of the spawn.
   */
  private static int spawnHelper(String helper, int[] cellFiles, FileActions actions,
      Pointer argv, Pointer envp, int[] child, Scratch scratch) throws IOException {
    int[] pipe = pipe();
    // The write end is put at 3 after the streams: numbered above what the file actions set.
    int[] high = Cgroups.copies(pipe[1]);
    LibC.close(pipe[1]);
    if (high == null) {
      LibC.close(pipe[0]);
      throw new IOException("cannot create a pipe: " + LibC.strerror(LibC.errno()));
    }
    Memory fa = scratch.fa;
    LibC.Spawn.posix_spawn_file_actions_init(fa);
    try {
      actions.add(fa);
      LibC.Spawn.posix_spawn_file_actions_adddup2(fa, high[0], 3);
      for (int i = 0; i < cellFiles.length; i++) {
        LibC.Spawn.posix_spawn_file_actions_adddup2(fa, cellFiles[i], 4 + i);
      }
      LibC.Spawn.posix_spawn_file_actions_addclosefrom_np(fa, 4 + cellFiles.length);
      int rc;
      try {
        rc = LibC.Spawn.posix_spawnp(child, helper, fa, scratch.attr, argv, envp);
      } finally {
        // The read below ends once no write end is left but the child's.
        LibC.close(high[0]);
      }
      if (rc == 0) {
        child[1] = ExecHelper.readError(pipe[0]);
      }
      return rc;
    } finally {
      LibC.close(pipe[0]);
      LibC.Spawn.posix_spawn_file_actions_destroy(fa);
    }
  }

  /**
   * The helper's argv: itself, the working directory (or ""), the paths to try for the program,
   * "", then the command. A name with a slash is the one path; an empty name has none.
   */
  private static String[] helperArgv(String helper, List<String> command, String cwd) {
    String program = command.get(0);
    List<String> argv = new java.util.ArrayList<>(command.size() + SEARCH.length + 3);
    argv.add(helper);
    argv.add(cwd == null ? "" : cwd);
    if (program.indexOf('/') >= 0) {
      argv.add(program);
    } else if (!program.isEmpty()) {
      for (String dir : SEARCH) {
        // An empty entry is the working directory, as for the C library.
        argv.add(dir.isEmpty() ? program : dir + "/" + program);
      }
    }
    argv.add("");
    argv.addAll(command);
    return argv.toArray(new String[0]);
  }

  /**
   * Refuses a directory name that the child's chdir would read otherwise than meant: empty, or
   * cut at a NUL. Touches no file system.
   */
  private static void checkName(String cwd) throws IOException {
    if (cwd != null && (cwd.isEmpty() || cwd.indexOf('\0') >= 0)) {
      throw new IOException("No such directory: " + cwd);
    }
  }

  private static void checkDirectory(String cwd) throws IOException {
    if (cwd != null && !Launcher.isDirectory(cwd)) {
      throw new IOException("No such directory: " + cwd);
    }
  }

  private static int[] pipe() throws IOException {
    int[] fds = new int[2];
    if (LibC.pipe2(fds, LibC.O_CLOEXEC) != 0) {
      throw new IOException("cannot create a pipe: " + LibC.strerror(LibC.errno()));
    }
    return fds;
  }

  /**
   * The agent's end only: the child's end of the same pipe stays blocking. A pipe's or terminal's
   * descriptor made here has no other status flag to keep.
   */
  private static void nonBlocking(int fd) {
    LibC.fcntl(fd, LibC.F_SETFL, LibC.O_NONBLOCK);
  }

  private static void closeEach(int[] fds) {
    for (int fd : fds) {
      LibC.close(fd);
    }
  }

  private static void closeAll(int[]... pipes) {
    for (int[] p : pipes) {
      if (p != null) {
        LibC.close(p[0]);
        LibC.close(p[1]);
      }
    }
  }
}
