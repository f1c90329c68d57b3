package sys;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import java.nio.charset.StandardCharsets;

/**
 * The agent's one binding of the C library: every call the JDK does not offer (processes,
 * signals, epoll, terminals, descriptor-relative file calls, cgroups), bound by JNA's direct
 * mapping, so a call costs about what a JNI call does, with no reflection or proxy on the way.
 * Loaded on first use; where the C library or JNA is missing, {@link #available()} is false and a
 * call throws {@link UnsatisfiedLinkError}. The posix_spawn family, which older C libraries lack
 * in part, is bound on its own ({@link Spawn}).
 *
 * <p>Every call that can fail returns -1 (or null) and leaves errno in {@link #errno()}.
 * Linux on x86-64 and AArch64 only: some flag values differ between the two.
 */
public final class LibC {
  public static final boolean ARM = Platform.isARM() || "aarch64".equals(Platform.ARCH);

  public static final int EPERM = 1;
  public static final int ENOENT = 2;
  public static final int EINTR = 4;
  public static final int EIO = 5;
  public static final int ECHILD = 10;
  public static final int EAGAIN = 11;
  public static final int EACCES = 13;
  public static final int EEXIST = 17;
  public static final int ENOTDIR = 20;
  public static final int EISDIR = 21;
  public static final int EINVAL = 22;
  public static final int ENOSYS = 38;
  public static final int ENOTEMPTY = 39;
  public static final int ELOOP = 40;
  public static final int EOPNOTSUPP = 95;

  public static final int SIGHUP = 1;
  public static final int SIGKILL = 9;
  public static final int SIGTERM = 15;
  /** SIGSTOP as numbered on x86-64 and AArch64 Linux. */
  public static final int SIGSTOP = 19;

  public static final int AT_FDCWD = -100;
  public static final int O_RDONLY = 0;
  public static final int O_WRONLY = 1;
  public static final int O_RDWR = 2;
  public static final int O_CREAT = 0100;
  public static final int O_EXCL = 0200;
  public static final int O_NOCTTY = 0400;
  public static final int O_APPEND = 02000;
  public static final int O_NONBLOCK = 04000;
  public static final int O_DIRECTORY = ARM ? 040000 : 0200000;
  public static final int O_NOFOLLOW = ARM ? 0100000 : 0400000;
  public static final int O_CLOEXEC = 02000000;
  public static final int O_PATH = 010000000;
  public static final int F_GETFL = 3;
  public static final int F_SETFL = 4;

  public static final int AT_SYMLINK_NOFOLLOW = 0x100;
  public static final int AT_REMOVEDIR = 0x200;
  public static final int AT_EMPTY_PATH = 0x1000;

  public static final int S_IFMT = 0170000;
  public static final int S_IFREG = 0100000;
  public static final int S_IFDIR = 0040000;
  public static final int S_IFLNK = 0120000;

  public static final long PROC_SUPER_MAGIC = 0x9fa0;
  public static final long SYSFS_MAGIC = 0x62656572;

  /** syscall(2) number of openat2(2): the same on every architecture. */
  public static final long SYS_OPENAT2 = 437;
  public static final long RESOLVE_NO_XDEV = 0x01;
  public static final long RESOLVE_NO_MAGICLINKS = 0x02;
  public static final long RESOLVE_NO_SYMLINKS = 0x04;
  public static final long RESOLVE_BENEATH = 0x08;

  public static final int EPOLL_CLOEXEC = O_CLOEXEC;
  public static final int EPOLL_CTL_ADD = 1;
  public static final int EPOLL_CTL_DEL = 2;
  public static final int EPOLL_CTL_MOD = 3;
  public static final int EPOLLIN = 0x001;
  public static final int EPOLLOUT = 0x004;
  public static final int EPOLLERR = 0x008;
  public static final int EPOLLHUP = 0x010;
  public static final int EFD_CLOEXEC = O_CLOEXEC;
  public static final int EFD_NONBLOCK = O_NONBLOCK;

  /** struct epoll_event is packed on x86-64 (12 bytes), naturally aligned elsewhere (16). */
  public static final boolean PACKED_EPOLL = "amd64".equals(System.getProperty("os.arch"))
      || "x86_64".equals(System.getProperty("os.arch"));
  public static final int EPOLL_EVENT_SIZE = PACKED_EPOLL ? 12 : 16;
  public static final int EPOLL_DATA_OFFSET = PACKED_EPOLL ? 4 : 8;

  public static final int TIOCSWINSZ = 0x5414;

  public static final int IN_MODIFY = 0x2;
  public static final int IN_IGNORED = 0x8000;
  public static final int IN_CLOEXEC = O_CLOEXEC;

  public static final int PR_SET_CHILD_SUBREAPER = 36;
  public static final int WNOHANG = 1;
  public static final int P_ALL = 0;
  public static final int WEXITED = 4;
  public static final int WNOWAIT = 0x01000000;

  public static final long MS_NOSUID = 2;
  public static final long MS_NODEV = 4;
  public static final long MS_NOEXEC = 8;

  static {
    // JNA otherwise runs `/sbin/ldconfig -p` on first use to learn where libraries are: a
    // program the guest's own files provide, run as the agent, and a JDK thread to wait for it,
    // all on the first request. The C library needs no search (JNA opens the agent's own symbols
    // for it); the standard folders are what a library loaded by name elsewhere needs.
    if (System.getProperty("jna.platform.library.path") == null) {
      String arch = ARM ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
      System.setProperty("jna.platform.library.path", String.join(java.io.File.pathSeparator,
          "/usr/lib/" + arch, "/lib/" + arch, "/usr/lib64", "/lib64", "/usr/lib", "/lib"));
    }
  }

  private static final boolean AVAILABLE = bind(LibC.class);

  private LibC() {}

  private static boolean bind(Class<?> c) {
    try {
      Native.register(c, NativeLibrary.getInstance(Platform.C_LIBRARY_NAME));
      return true;
    } catch (LinkageError | RuntimeException e) {
      return false;
    }
  }

  /** Whether the C library is bound (all but {@link Spawn}). */
  public static boolean available() {
    return AVAILABLE;
  }

  /** The errno of the last call on this thread. */
  public static int errno() {
    return Native.getLastError();
  }

  /** kill(2); false when the process does not exist or may not be signalled. */
  public static boolean signal(long pid, int signal) {
    return kill((int) pid, signal) == 0;
  }

  /** Decodes a wait status: the exit code, or 128 + N for a process killed by signal N. */
  public static int exitCode(int status) {
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
  }

  /** A name or path as the C library takes it: UTF-8, NUL-terminated. */
  public static byte[] c(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[b.length + 1];
    System.arraycopy(b, 0, out, 0, b.length);
    return out;
  }

  public static native String strerror(int errnum);

  // Descriptors.

  public static native long read(int fd, Pointer buf, long count);

  public static native long write(int fd, Pointer buf, long count);

  public static native long read(int fd, byte[] buf, long count);

  public static native long write(int fd, byte[] buf, long count);

  /** For {@link #send}: no SIGPIPE when the peer has closed; the call fails with EPIPE. */
  public static final int MSG_NOSIGNAL = 0x4000;

  public static native long send(int fd, byte[] buf, long len, int flags);

  public static native long pread(int fd, Pointer buf, long count, long offset);

  public static native long pread(int fd, byte[] buf, long count, long offset);

  public static native int close(int fd);

  public static native int pipe2(int[] fds, int flags);

  public static native int fcntl(int fd, int cmd, int arg);

  public static native int ioctl(int fd, long request, Pointer arg);

  public static native int fsync(int fd);

  public static native int fchmod(int fd, int mode);

  public static native int fstatfs(int fd, byte[] buf);

  // Descriptor-relative file calls.

  public static native int openat(int dirfd, byte[] path, int flags, int mode);

  /** syscall(2) shaped for openat2: (number, dirfd, path, struct open_how, its size). */
  public static native long syscall(long number, int dirfd, byte[] path, byte[] how, long size);

  public static native int statx(int dirfd, byte[] path, int flags, int mask, byte[] buf);

  public static native long readlinkat(int dirfd, byte[] path, byte[] buf, long size);

  public static native int mkdirat(int dirfd, byte[] path, int mode);

  public static native int unlinkat(int dirfd, byte[] path, int flags);

  public static native int renameat(int olddirfd, byte[] oldpath, int newdirfd, byte[] newpath);

  public static native Pointer fdopendir(int fd);

  public static native Pointer readdir64(Pointer dir);

  public static native int closedir(Pointer dir);

  public static native int mount(String source, String target, String type, long flags,
      String data);

  // Waiting: epoll, eventfd, inotify.

  public static native int epoll_create1(int flags);

  public static native int epoll_ctl(int epfd, int op, int fd, Pointer event);

  public static native int epoll_wait(int epfd, Pointer events, int maxevents, int timeout);

  public static native int eventfd(int initval, int flags);

  public static native int inotify_init1(int flags);

  public static native int inotify_add_watch(int fd, String path, int mask);

  // Processes and signals.

  public static native int kill(int pid, int sig);

  public static native int waitpid(int pid, int[] status, int options);

  /**
   * {@code info} is a {@code siginfo_t} (128 bytes): with {@link #WNOWAIT} the child is left to
   * be reaped later, and its pid is at byte 16.
   */
  public static native int waitid(int idtype, int id, byte[] info, int options);

  public static native int prctl(int option, long arg2, long arg3, long arg4, long arg5);

  /** {@code param} is a {@code struct sched_param}: its one int, the priority. */
  public static native int sched_setscheduler(int tid, int policy, int[] param);

  public static native int sched_getscheduler(int tid);

  // Terminals.

  public static native int posix_openpt(int flags);

  public static native int grantpt(int fd);

  public static native int unlockpt(int fd);

  public static native int ptsname_r(int fd, byte[] buf, long buflen);

  /**
   * glibc's {@code malloc_trim}, bound apart: other C libraries lack it, and a missing function
   * fails the binding of its whole class.
   */
  public static final class Malloc {
    private static final boolean AVAILABLE = bind(Malloc.class);

    private Malloc() {}

    public static boolean available() {
      return AVAILABLE;
    }

    /** Gives free memory back to the system, keeping {@code pad} bytes; 1 if any was given. */
    public static native int malloc_trim(long pad);
  }

  /**
   * posix_spawn and its helpers, bound apart from the rest: the newest of them
   * ({@code posix_spawn_file_actions_addclosefrom_np}, glibc 2.34) is missing from older C
   * libraries and musl, and a missing function fails the binding of its whole class. Without them
   * {@link #available()} here is false and processes start through the JDK instead.
   */
  public static final class Spawn {
    private static final boolean AVAILABLE = bind(Spawn.class);

    private Spawn() {}

    public static boolean available() {
      return AVAILABLE;
    }

    public static native int posix_spawn_file_actions_init(Pointer fa);

    public static native int posix_spawn_file_actions_destroy(Pointer fa);

    public static native int posix_spawn_file_actions_adddup2(Pointer fa, int fd, int newfd);

    public static native int posix_spawn_file_actions_addopen(Pointer fa, int fd, String path,
        int flags, int mode);

    public static native int posix_spawn_file_actions_addchdir_np(Pointer fa, String path);

    public static native int posix_spawn_file_actions_addclosefrom_np(Pointer fa, int from);

    public static native int posix_spawnattr_init(Pointer attr);

    public static native int posix_spawnattr_setflags(Pointer attr, short flags);

    public static native int posix_spawnattr_setsigmask(Pointer attr, Pointer set);

    public static native int posix_spawnattr_setsigdefault(Pointer attr, Pointer set);

    public static native int posix_spawnattr_setschedpolicy(Pointer attr, int policy);

    public static native int sigemptyset(Pointer set);

    public static native int sigfillset(Pointer set);

    public static native int posix_spawnp(int[] pid, String file, Pointer fa, Pointer attr,
        Pointer argv, Pointer envp);

    /** The calling thread's id (glibc 2.30). */
    public static native int gettid();

    public static native int mkfifo(byte[] path, int mode);

    /** An anonymous file (glibc 2.27). */
    public static native int memfd_create(String name, int flags);

    public static native Pointer mmap(Pointer addr, long length, int prot, int flags, int fd,
        long offset);
  }
}
