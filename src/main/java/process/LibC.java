package process;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;

/**
 * The C library calls of the process engine, bound by JNA's direct mapping: a call costs about
 * what a JNI call does, with no reflection or proxy on the way. Loaded on first use; where the C
 * library or JNA is missing, {@link #available()} is false and the engine is not used.
 */
final class LibC {
  static final int EINTR = 4;
  static final int EAGAIN = 11;
  static final int ECHILD = 10;
  static final int ENOENT = 2;
  static final int EEXIST = 17;
  static final int EIO = 5;

  static final int O_RDONLY = 0;
  static final int O_WRONLY = 1;
  static final int O_RDWR = 2;
  static final int O_NOCTTY = 0400;
  static final int O_NONBLOCK = 04000;
  static final int O_CLOEXEC = 02000000;
  static final int F_GETFL = 3;
  static final int F_SETFL = 4;

  static final int EPOLL_CLOEXEC = O_CLOEXEC;
  static final int EPOLL_CTL_ADD = 1;
  static final int EPOLL_CTL_DEL = 2;
  static final int EPOLL_CTL_MOD = 3;
  static final int EPOLLIN = 0x001;
  static final int EPOLLOUT = 0x004;
  static final int EPOLLERR = 0x008;
  static final int EPOLLHUP = 0x010;
  static final int EFD_CLOEXEC = O_CLOEXEC;
  static final int EFD_NONBLOCK = O_NONBLOCK;

  /** struct epoll_event is packed on x86-64 (12 bytes), naturally aligned elsewhere (16). */
  static final boolean PACKED_EPOLL = "amd64".equals(System.getProperty("os.arch"))
      || "x86_64".equals(System.getProperty("os.arch"));
  static final int EPOLL_EVENT_SIZE = PACKED_EPOLL ? 12 : 16;
  static final int EPOLL_DATA_OFFSET = PACKED_EPOLL ? 4 : 8;

  static final int TIOCSWINSZ = 0x5414;

  private static final boolean AVAILABLE = load();

  private LibC() {}

  private static boolean load() {
    try {
      Native.register(LibC.class, NativeLibrary.getInstance("c"));
      return true;
    } catch (LinkageError | RuntimeException e) {
      return false;
    }
  }

  static boolean available() {
    return AVAILABLE;
  }

  /** The errno of the last call on this thread. */
  static int errno() {
    return Native.getLastError();
  }

  static native int epoll_create1(int flags);

  static native int epoll_ctl(int epfd, int op, int fd, Pointer event);

  static native int epoll_wait(int epfd, Pointer events, int maxevents, int timeout);

  static native int eventfd(int initval, int flags);

  static native long read(int fd, Pointer buf, long count);

  static native long write(int fd, Pointer buf, long count);

  static native int close(int fd);

  /** {@code open(2)} without a mode: never with O_CREAT. The path ends with a NUL. */
  static native int open(byte[] path, int flags);

  static native long read(int fd, byte[] buf, long count);

  static native int mkdir(byte[] path, int mode);

  static native int rmdir(byte[] path);

  static native long write(int fd, byte[] buf, long count);

  static native int pipe2(int[] fds, int flags);

  static native int fcntl(int fd, int cmd, int arg);

  static native int ioctl(int fd, long request, Pointer arg);

  static native int kill(int pid, int sig);

  static native int waitpid(int pid, int[] status, int options);

  static native int prctl(int option, long arg2, long arg3, long arg4, long arg5);

  static native int posix_openpt(int flags);

  static native int grantpt(int fd);

  static native int unlockpt(int fd);

  static native int ptsname_r(int fd, byte[] buf, long buflen);

  static native String strerror(int errnum);

  static native int posix_spawn_file_actions_init(Pointer fa);

  static native int posix_spawn_file_actions_destroy(Pointer fa);

  static native int posix_spawn_file_actions_adddup2(Pointer fa, int fd, int newfd);

  static native int posix_spawn_file_actions_addopen(Pointer fa, int fd, String path, int flags,
      int mode);

  static native int posix_spawn_file_actions_addchdir_np(Pointer fa, String path);

  static native int posix_spawn_file_actions_addclosefrom_np(Pointer fa, int from);

  static native int posix_spawnattr_init(Pointer attr);

  static native int posix_spawnattr_destroy(Pointer attr);

  static native int posix_spawnattr_setflags(Pointer attr, short flags);

  static native int posix_spawnattr_setsigmask(Pointer attr, Pointer set);

  static native int posix_spawnattr_setsigdefault(Pointer attr, Pointer set);

  static native int sigemptyset(Pointer set);

  static native int sigfillset(Pointer set);

  static native int posix_spawnp(int[] pid, String file, Pointer fa, Pointer attr, Pointer argv,
      Pointer envp);

  /** Decodes a wait status: the exit code, or 128 + N for a process killed by signal N. */
  static int exitCode(int status) {
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
  }
}
