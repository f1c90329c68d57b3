package files;

import static sys.LibC.AT_EMPTY_PATH;
import static sys.LibC.AT_FDCWD;
import static sys.LibC.AT_SYMLINK_NOFOLLOW;
import static sys.LibC.EACCES;
import static sys.LibC.EAGAIN;
import static sys.LibC.EEXIST;
import static sys.LibC.EINTR;
import static sys.LibC.ENOENT;
import static sys.LibC.ENOTDIR;
import static sys.LibC.ENOTEMPTY;
import static sys.LibC.EPERM;
import static sys.LibC.O_CLOEXEC;
import static sys.LibC.O_DIRECTORY;
import static sys.LibC.O_NOFOLLOW;
import static sys.LibC.O_PATH;
import static sys.LibC.RESOLVE_BENEATH;
import static sys.LibC.RESOLVE_NO_MAGICLINKS;
import static sys.LibC.RESOLVE_NO_SYMLINKS;
import static sys.LibC.RESOLVE_NO_XDEV;
import static sys.LibC.S_IFDIR;
import static sys.LibC.S_IFLNK;
import static sys.LibC.S_IFMT;
import static sys.LibC.S_IFREG;
import static sys.LibC.SYS_OPENAT2;
import static sys.LibC.c;
import static sys.LibC.close;
import static sys.LibC.errno;
import static sys.LibC.fstatfs;
import static sys.LibC.openat;
import static sys.LibC.pread;
import static sys.LibC.readlinkat;
import static sys.LibC.statx;
import static sys.LibC.strerror;
import static sys.LibC.syscall;
import static sys.LibC.write;

import com.sun.jna.Memory;
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
import sys.LibC;

/**
 * What the path policy builds on the C library's descriptor-relative file calls ({@link LibC}):
 * one-step opens through openat2 where the kernel has it, statx decoded, errno turned into the
 * JDK's exception ({@link #error}), and reads and writes through a native buffer. Paths go in as
 * UTF-8 bytes ending in NUL ({@link LibC#c}), whatever the locale.
 */
final class FileCalls {
  static final byte[] EMPTY = {0};
  static final byte[] DOT = LibC.c(".");
  static final byte[] DOTDOT = LibC.c("..");

  private FileCalls() {}

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

  /**
   * What statx tells about one object. {@code dev} packs the major and minor numbers;
   * {@code mountRoot} says the object is the root of a mount (a bind mount of a directory of the
   * same file system included), where the kernel can tell (Linux 5.8 and later).
   */
  record Stat(int mode, long nlink, long ino, long size, long mtimeNs, long dev,
      boolean mountRoot) {
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
  private static final long STATX_ATTR_MOUNT_ROOT = 0x2000;

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
    long attributes = b.getLong(8) & b.getLong(56);
    return new Stat(mode, b.getInt(16) & 0xffffffffL, b.getLong(32), b.getLong(40),
        sec * 1_000_000_000L + nsec, dev, (attributes & STATX_ATTR_MOUNT_ROOT) != 0);
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
    try {
      // Decoded strictly: a byte that is not UTF-8 would otherwise become U+FFFD, and the walk
      // would go on to another file, one whose name holds that character.
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
          .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)
          .decode(java.nio.ByteBuffer.wrap(buf, 0, (int) n)).toString();
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new java.nio.file.FileSystemException(path, null,
          "Symbolic link's target is not valid UTF-8");
    }
  }

  /** A native buffer per thread for reads and writes, so byte arrays are never pinned whole. */
  private static final int IO_CHUNK = 1 << 20;
  private static final ThreadLocal<Memory> IO_BUFFER = new ThreadLocal<>();

  /** This thread's buffer, made on its first read or write. */
  static Memory buffer() {
    Memory mem = IO_BUFFER.get();
    if (mem == null) {
      mem = new Memory(IO_CHUNK);
      IO_BUFFER.set(mem);
    }
    return mem;
  }

  /**
   * Frees this thread's buffer, if it has one, as the thread ends: without this a thread that
   * ends leaves its megabyte to whenever a collection finds it.
   */
  static void releaseBuffer() {
    Memory mem = IO_BUFFER.get();
    if (mem != null) {
      IO_BUFFER.remove();
      mem.close();
    }
  }

  /** Reads up to {@code n} bytes at {@code offset}; fewer only at the end of the file. */
  static byte[] readAt(int fd, long offset, int n, String path) throws IOException {
    Memory mem = buffer();
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
    Memory mem = buffer();
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
