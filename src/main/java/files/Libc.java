package files;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * The C library's descriptor-relative file calls ({@code openat}, {@code statx}, {@code mkdirat},
 * {@code unlinkat}, {@code renameat}, ...), through JNA direct mapping. Paths go in as UTF-8 bytes
 * ending in NUL, whatever the locale. Every call that can fail returns -1 (or null) and leaves
 * errno in {@link Native#getLastError()}; {@link #error} turns it into the JDK's exception for it.
 *
 * <p>Linux on x86-64 and AArch64 only: the flag values below differ between the two.
 */
final class Libc {
  static final boolean ARM = Platform.isARM() || "aarch64".equals(Platform.ARCH);

  static final int AT_FDCWD = -100;
  static final int O_RDONLY = 0;
  static final int O_WRONLY = 1;
  static final int O_CREAT = 0100;
  static final int O_EXCL = 0200;
  static final int O_NOCTTY = 0400;
  static final int O_APPEND = 02000;
  static final int O_NONBLOCK = 04000;
  static final int O_DIRECTORY = ARM ? 040000 : 0200000;
  static final int O_NOFOLLOW = ARM ? 0100000 : 0400000;
  static final int O_CLOEXEC = 02000000;
  static final int O_PATH = 010000000;

  static final int AT_SYMLINK_NOFOLLOW = 0x100;
  static final int AT_REMOVEDIR = 0x200;
  static final int AT_EMPTY_PATH = 0x1000;

  static final int ENOENT = 2;
  static final int EINTR = 4;
  static final int EAGAIN = 11;
  static final int EACCES = 13;
  static final int EPERM = 1;
  static final int EEXIST = 17;
  static final int ENOTDIR = 20;
  static final int EISDIR = 21;
  static final int ENOSYS = 38;
  static final int ENOTEMPTY = 39;
  static final int ELOOP = 40;

  /** openat2(2): the same number on every architecture. */
  private static final long SYS_OPENAT2 = 437;
  static final long RESOLVE_NO_MAGICLINKS = 0x02;
  static final long RESOLVE_BENEATH = 0x08;

  static final int S_IFMT = 0170000;
  static final int S_IFREG = 0100000;
  static final int S_IFDIR = 0040000;
  static final int S_IFLNK = 0120000;

  static final long PROC_SUPER_MAGIC = 0x9fa0;
  static final long SYSFS_MAGIC = 0x62656572;

  static {
    Native.register(Platform.C_LIBRARY_NAME);
  }

  private Libc() {}

  static native int openat(int dirfd, byte[] path, int flags, int mode);

  static native long syscall(long number, int dirfd, byte[] path, byte[] how, long size);

  static native int close(int fd);

  static native int statx(int dirfd, byte[] path, int flags, int mask, byte[] buf);

  static native int fstatfs(int fd, byte[] buf);

  static native long readlinkat(int dirfd, byte[] path, byte[] buf, long size);

  static native int mkdirat(int dirfd, byte[] path, int mode);

  static native int unlinkat(int dirfd, byte[] path, int flags);

  static native int renameat(int olddirfd, byte[] oldpath, int newdirfd, byte[] newpath);

  static native int fchmod(int fd, int mode);

  static native int fsync(int fd);

  static native long pread(int fd, Pointer buf, long count, long offset);

  static native long write(int fd, Pointer buf, long count);

  static native Pointer fdopendir(int fd);

  static native Pointer readdir64(Pointer dir);

  static native int closedir(Pointer dir);

  static native String strerror(int errnum);

  /** A name or path as the C library takes it: UTF-8, NUL-terminated. */
  static byte[] c(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[b.length + 1];
    System.arraycopy(b, 0, out, 0, b.length);
    return out;
  }

  static final byte[] EMPTY = {0};
  static final byte[] DOT = c(".");
  static final byte[] DOTDOT = c("..");

  /** Whether openat2 works here; probed once, and openat serves where it does not. */
  private static final boolean OPENAT2 = probeOpenat2();

  private static boolean probeOpenat2() {
    if (Boolean.getBoolean("agent.files.no-openat2")) {
      return false;
    }
    try {
      int fd = (int) syscall(SYS_OPENAT2, AT_FDCWD, c("/"), how(O_PATH | O_CLOEXEC, 0), 24);
      if (fd >= 0) {
        close(fd);
        return true;
      }
    } catch (LinkageError e) {
      // No syscall(3) to call: openat it is.
    }
    return false;
  }

  static boolean hasOpenat2() {
    return OPENAT2;
  }

  private static byte[] how(long flags, long resolve) {
    ByteBuffer b = ByteBuffer.allocate(24).order(ByteOrder.nativeOrder());
    b.putLong(flags).putLong(0).putLong(resolve);
    return b.array();
  }

  private static final byte[] HOW_STEP =
      how(O_PATH | O_NOFOLLOW | O_CLOEXEC, RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH);
  private static final byte[] HOW_UP =
      how(O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC, RESOLVE_NO_MAGICLINKS);

  /**
   * Opens one component {@code name} (no slash, not "..") of {@code dirfd} as an O_PATH
   * descriptor without following it: a link is opened as the link. Returns -1 with errno set.
   */
  static int openStep(int dirfd, byte[] name) {
    if (OPENAT2) {
      int fd;
      int tries = 0;
      do {
        // EAGAIN: the kernel could not rule out a race with a rename; it invites a retry.
        fd = (int) syscall(SYS_OPENAT2, dirfd, name, HOW_STEP, 24);
      } while (fd < 0 && (errno() == EAGAIN || errno() == EINTR) && ++tries < 8);
      return fd;
    }
    return openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
  }

  static final long RESOLVE_NO_XDEV = 0x01;
  static final long RESOLVE_NO_SYMLINKS = 0x04;

  private static final byte[] HOW_PLAIN = how(O_PATH | O_DIRECTORY | O_CLOEXEC,
      RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH);

  /**
   * Opens the relative path {@code path} under {@code dirfd} as an O_PATH directory in one call,
   * only if no component is a link and no step crosses a mount; -1 otherwise (or without
   * openat2). Such a path holds no object but the ones its names say.
   */
  static int openPlainDir(int dirfd, byte[] path) {
    if (!OPENAT2) {
      return -1;
    }
    return (int) syscall(SYS_OPENAT2, dirfd, path, HOW_PLAIN, 24);
  }

  /** Opens the parent directory of {@code dirfd} as an O_PATH descriptor. */
  static int openUp(int dirfd) {
    if (OPENAT2) {
      return (int) syscall(SYS_OPENAT2, dirfd, DOTDOT, HOW_UP, 24);
    }
    return openat(dirfd, DOTDOT, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC, 0);
  }

  static int errno() {
    return Native.getLastError();
  }

  /** The JDK's exception for errno {@code err} on {@code path}. */
  static IOException error(int err, String path) {
    return switch (err) {
      case ENOENT -> new NoSuchFileException(path);
      case EACCES, EPERM -> new AccessDeniedException(path);
      case EEXIST -> new FileAlreadyExistsException(path);
      case ENOTEMPTY -> new DirectoryNotEmptyException(path);
      case ENOTDIR -> new NotDirectoryException(path);
      default -> new FileSystemException(path, null, strerror(err));
    };
  }

  static IOException lastError(String path) {
    return error(errno(), path);
  }

  static void closeQuietly(int fd) {
    if (fd >= 0) {
      close(fd);
    }
  }

  /** The file system type (statfs f_type) of what {@code fd} refers to, or -1 if unknown. */
  static long fsType(int fd) {
    byte[] buf = new byte[256];
    if (fstatfs(fd, buf) != 0) {
      return -1;
    }
    return ByteBuffer.wrap(buf).order(ByteOrder.nativeOrder()).getLong(0);
  }

  /** What statx tells about one object. {@code dev} packs the major and minor numbers. */
  record Stat(int mode, long nlink, long ino, long size, long mtimeNs, long dev) {
    long mtimeMs() {
      return Math.floorDiv(mtimeNs, 1_000_000L);
    }

    int type() {
      return mode & S_IFMT;
    }

    boolean isDir() {
      return type() == S_IFDIR;
    }

    boolean isLink() {
      return type() == S_IFLNK;
    }

    boolean isRegular() {
      return type() == S_IFREG;
    }

    boolean sameObject(Stat o) {
      return o != null && dev == o.dev && ino == o.ino;
    }
  }

  private static final int STATX_BASIC_STATS = 0x7ff;

  /** statx of {@code name} in {@code dirfd} (or of dirfd itself with {@link #EMPTY}); null on error. */
  static Stat statAt(int dirfd, byte[] name, boolean follow) {
    byte[] buf = new byte[256];
    int flags = (follow ? 0 : AT_SYMLINK_NOFOLLOW) | (name == EMPTY ? AT_EMPTY_PATH : 0);
    if (statx(dirfd, name, flags, STATX_BASIC_STATS, buf) != 0) {
      return null;
    }
    ByteBuffer b = ByteBuffer.wrap(buf).order(ByteOrder.nativeOrder());
    int mode = b.getShort(28) & 0xffff;
    long sec = b.getLong(112);
    long nsec = b.getInt(120) & 0xffffffffL;
    long dev = ((long) b.getInt(136) << 32) | (b.getInt(140) & 0xffffffffL);
    return new Stat(mode, b.getInt(16) & 0xffffffffL, b.getLong(32), b.getLong(40),
        sec * 1_000_000_000L + nsec, dev);
  }

  static Stat stat(int fd) {
    return statAt(fd, EMPTY, false);
  }

  /** The target of the link that the O_PATH descriptor {@code fd} refers to. */
  static String readlink(int fd, String path) throws IOException {
    byte[] buf = new byte[4096];
    long n = readlinkat(fd, EMPTY, buf, buf.length);
    if (n < 0) {
      throw lastError(path);
    }
    return new String(buf, 0, (int) n, StandardCharsets.UTF_8);
  }

  /** A native buffer per thread for reads and writes, so byte arrays are never pinned whole. */
  private static final int IO_CHUNK = 1 << 20;
  private static final ThreadLocal<Memory> IO_BUFFER =
      ThreadLocal.withInitial(() -> new Memory(IO_CHUNK));

  /** Reads up to {@code n} bytes at {@code offset}; fewer only at the end of the file. */
  static byte[] readAt(int fd, long offset, int n, String path) throws IOException {
    Memory mem = IO_BUFFER.get();
    byte[] out = new byte[n];
    int done = 0;
    while (done < n) {
      long got = pread(fd, mem, Math.min(IO_CHUNK, n - done), offset + done);
      if (got < 0) {
        if (errno() == EINTR) {
          continue;
        }
        throw lastError(path);
      }
      if (got == 0) {
        return java.util.Arrays.copyOf(out, done);
      }
      mem.read(0, out, done, (int) got);
      done += (int) got;
    }
    return out;
  }

  static void writeAll(int fd, byte[] data, String path) throws IOException {
    Memory mem = IO_BUFFER.get();
    int done = 0;
    while (done < data.length) {
      int len = Math.min(IO_CHUNK, data.length - done);
      mem.write(0, data, done, len);
      int off = 0;
      while (off < len) {
        long put = write(fd, mem.share(off), len - off);
        if (put < 0) {
          if (errno() == EINTR) {
            continue;
          }
          throw lastError(path);
        }
        off += (int) put;
      }
      done += len;
    }
  }
}
