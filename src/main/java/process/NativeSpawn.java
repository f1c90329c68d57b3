package process;

import com.sun.jna.Library;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.StringArray;
import com.sun.jna.ptr.IntByReference;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Starts a command with glibc's {@code posix_spawnp}, in a session (and so a process group) of its
 * own, with its three standard streams on pipes: what {@link ProcessBuilder} cannot do, since it
 * can neither start a new session nor avoid the JDK's helper exec on recent JDKs.
 *
 * <p>The child gets default signal dispositions and an empty signal mask, starts in its working
 * directory, and inherits no descriptor but the three pipes. The exit status is collected by a
 * waiting thread, so the JDK's reaper never sees this child and the agent's reaper is told to
 * leave it alone. Where the C library lacks what this needs (glibc before 2.34, musl), or JNA is
 * missing, {@link #available()} is false and callers use {@link ProcessBuilder}.
 */
final class NativeSpawn {
  private static final short POSIX_SPAWN_SETSIGDEF = 0x04;
  private static final short POSIX_SPAWN_SETSIGMASK = 0x08;
  private static final short POSIX_SPAWN_SETSID = 0x80;
  private static final int O_RDONLY = 0;
  private static final int O_CLOEXEC = 02000000;
  /** Larger than glibc's posix_spawn_file_actions_t (80), posix_spawnattr_t (336), sigset_t. */
  private static final int STRUCT_BYTES = 512;

  /** Threads that wait for children, kept a while for the next run. */
  private static final java.util.concurrent.ExecutorService WAITERS =
      new java.util.concurrent.ThreadPoolExecutor(0, Integer.MAX_VALUE, 30, TimeUnit.SECONDS,
          new java.util.concurrent.SynchronousQueue<>(), r -> {
            Thread t = new Thread(null, r, "run-wait", 64 * 1024);
            t.setDaemon(true);
            return t;
          });

  private NativeSpawn() {}

  private interface C extends Library {
    int pipe2(int[] fds, int flags);

    int close(int fd);

    int posix_spawn_file_actions_init(Pointer fa);

    int posix_spawn_file_actions_destroy(Pointer fa);

    int posix_spawn_file_actions_adddup2(Pointer fa, int fd, int newfd);

    int posix_spawn_file_actions_addopen(Pointer fa, int fd, String path, int flags, int mode);

    int posix_spawn_file_actions_addchdir_np(Pointer fa, String path);

    int posix_spawn_file_actions_addclosefrom_np(Pointer fa, int from);

    int posix_spawnattr_init(Pointer attr);

    int posix_spawnattr_destroy(Pointer attr);

    int posix_spawnattr_setflags(Pointer attr, short flags);

    int posix_spawnattr_setsigmask(Pointer attr, Pointer set);

    int posix_spawnattr_setsigdefault(Pointer attr, Pointer set);

    int sigemptyset(Pointer set);

    int sigfillset(Pointer set);

    int posix_spawnp(IntByReference pid, String file, Pointer fa, Pointer attr, StringArray argv,
        StringArray envp);

    int waitpid(int pid, IntByReference status, int options);

    String strerror(int errnum);
  }

  private static final class Holder {
    static final C C = load();

    private static C load() {
      try {
        C c = Native.load("c", C.class);
        // Resolve the newest symbol now: a C library without it means no native spawning.
        com.sun.jna.NativeLibrary.getInstance("c")
            .getFunction("posix_spawn_file_actions_addclosefrom_np");
        return c;
      } catch (LinkageError | RuntimeException e) {
        return null;
      }
    }
  }

  static boolean available() {
    return !Boolean.getBoolean("agent.spawn.jdk") && Holder.C != null;
  }

  /**
   * Starts {@code command}; {@code env} is the complete environment. Throws an IOException worded
   * like the C library's error (program not found, directory missing, ...).
   */
  static Process start(List<String> command, String cwd, Map<String, String> env,
      boolean stdinFromNull) throws IOException {
    C c = Holder.C;
    if (cwd != null && !java.nio.file.Files.isDirectory(java.nio.file.Path.of(cwd))) {
      throw new IOException("No such directory: " + cwd);
    }
    int[] in = null;
    int[] out = null;
    int[] err;
    try {
      in = stdinFromNull ? null : pipe(c);
      out = pipe(c);
      err = pipe(c);
    } catch (IOException e) {
      // Out of descriptors: give back the pipes made so far.
      closeAll(c, in, out);
      throw e;
    }
    Memory fa = new Memory(STRUCT_BYTES);
    Memory attr = new Memory(STRUCT_BYTES);
    Memory set = new Memory(STRUCT_BYTES);
    c.posix_spawn_file_actions_init(fa);
    c.posix_spawnattr_init(attr);
    int pid;
    try {
      if (in == null) {
        c.posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
      } else {
        c.posix_spawn_file_actions_adddup2(fa, in[0], 0);
      }
      c.posix_spawn_file_actions_adddup2(fa, out[1], 1);
      c.posix_spawn_file_actions_adddup2(fa, err[1], 2);
      c.posix_spawn_file_actions_addclosefrom_np(fa, 3);
      if (cwd != null) {
        c.posix_spawn_file_actions_addchdir_np(fa, cwd);
      }
      c.sigemptyset(set);
      c.posix_spawnattr_setsigmask(attr, set);
      c.sigfillset(set);
      c.posix_spawnattr_setsigdefault(attr, set);
      c.posix_spawnattr_setflags(attr,
          (short) (POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK));
      String[] envp = env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
          .toArray(String[]::new);
      IntByReference pidRef = new IntByReference();
      int rc = c.posix_spawnp(pidRef, command.get(0), fa, attr,
          new StringArray(command.toArray(new String[0])), new StringArray(envp));
      if (rc != 0) {
        closeAll(c, in, out, err);
        throw new IOException(c.strerror(rc) + " (os error " + rc + ")");
      }
      pid = pidRef.getValue();
    } finally {
      c.posix_spawn_file_actions_destroy(fa);
      c.posix_spawnattr_destroy(attr);
    }
    // Our ends are opened while the child's ends are still open here too: opening a pipe through
    // /proc blocks until the other end has an owner, and the child may have exited already.
    OutputStream stdin = in == null ? null : writer(c, in[1]);
    InputStream stdout = reader(c, out[0]);
    InputStream stderr = reader(c, err[0]);
    // The child's ends belong to the child now.
    if (in != null) {
      c.close(in[0]);
    }
    c.close(out[1]);
    c.close(err[1]);
    return new Child(c, pid, stdin, stdout, stderr);
  }

  private static int[] pipe(C c) throws IOException {
    int[] fds = new int[2];
    if (c.pipe2(fds, O_CLOEXEC) != 0) {
      throw new IOException("cannot create a pipe: " + c.strerror(Native.getLastError()));
    }
    return fds;
  }

  private static void closeAll(C c, int[]... pipes) {
    for (int[] p : pipes) {
      if (p != null) {
        c.close(p[0]);
        c.close(p[1]);
      }
    }
  }

  /** A stream on descriptor {@code fd}, opened again through /proc; {@code fd} is closed. */
  private static InputStream reader(C c, int fd) throws IOException {
    try {
      return new FileInputStream("/proc/self/fd/" + fd);
    } finally {
      c.close(fd);
    }
  }

  private static OutputStream writer(C c, int fd) throws IOException {
    try {
      return new FileOutputStream("/proc/self/fd/" + fd);
    } finally {
      c.close(fd);
    }
  }

  /** The started child, as a {@link Process}. */
  private static final class Child extends Process {
    private final int pid;
    private final OutputStream stdin;
    private final InputStream stdout;
    private final InputStream stderr;
    private final ProcessHandle handle;
    private final CompletableFuture<Process> exit = new CompletableFuture<>();
    private volatile int status;

    Child(C c, int pid, OutputStream stdin, InputStream stdout, InputStream stderr) {
      this.pid = pid;
      this.stdin = stdin != null ? stdin : OutputStream.nullOutputStream();
      this.stdout = stdout;
      this.stderr = stderr;
      this.handle = ProcessHandle.of(pid).orElse(null);
      WAITERS.execute(() -> waitLoop(c));
    }

    private void waitLoop(C c) {
      IntByReference st = new IntByReference();
      int rc;
      do {
        rc = c.waitpid(pid, st, 0);
      } while (rc < 0 && Native.getLastError() == 4 /* EINTR */);
      int s = st.getValue();
      // WIFEXITED: low 7 bits zero; otherwise killed by the signal in the low 7 bits.
      status = (s & 0x7f) == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f);
      exit.complete(this);
    }

    @Override
    public OutputStream getOutputStream() {
      return stdin;
    }

    @Override
    public InputStream getInputStream() {
      return stdout;
    }

    @Override
    public InputStream getErrorStream() {
      return stderr;
    }

    @Override
    public int waitFor() throws InterruptedException {
      try {
        exit.get();
      } catch (java.util.concurrent.ExecutionException e) {
        throw new IllegalStateException(e);
      }
      return status;
    }

    @Override
    public boolean waitFor(long timeout, TimeUnit unit) throws InterruptedException {
      try {
        exit.get(timeout, unit);
        return true;
      } catch (java.util.concurrent.TimeoutException e) {
        return false;
      } catch (java.util.concurrent.ExecutionException e) {
        throw new IllegalStateException(e);
      }
    }

    @Override
    public int exitValue() {
      if (!exit.isDone()) {
        throw new IllegalThreadStateException("process " + pid + " has not exited");
      }
      return status;
    }

    @Override
    public void destroy() {
      Posix.kill(pid, Posix.SIGTERM);
    }

    @Override
    public Process destroyForcibly() {
      Posix.kill(pid, Posix.SIGKILL);
      return this;
    }

    @Override
    public boolean isAlive() {
      return !exit.isDone();
    }

    @Override
    public long pid() {
      return pid;
    }

    @Override
    public ProcessHandle toHandle() {
      if (handle == null) {
        throw new UnsupportedOperationException("process " + pid + " exited before it was seen");
      }
      return handle;
    }

    @Override
    public CompletableFuture<Process> onExit() {
      return exit;
    }
  }
}
