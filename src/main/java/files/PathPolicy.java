package files;

import java.io.IOException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import protocol.Errors;
import sys.LibC;

/**
 * The path rule, applied to what a path really names at the moment it is used.
 *
 * <p>A path is refused if it is not absolute, has a {@code ..} component, or names something at
 * or under one of {@link #BLOCKED}. Comparisons are by whole components, so {@code /processes}
 * or {@code /etc/passwdx} are allowed.
 *
 * <p>The path is walked one component at a time from a directory descriptor, each step opened
 * with {@code O_PATH | O_NOFOLLOW} (openat2 with {@code RESOLVE_NO_MAGICLINKS} where the kernel
 * has it). Links are resolved here, not by the kernel, and every object a step opens is checked:
 * by its path, by its identity (device and inode of the blocked directories and files, whatever
 * name leads to them), and, where a step crosses into another file system, by that file system
 * (a proc or sysfs mounted anywhere, or the file system mounted on {@code /dev}). The walk
 * returns descriptors ({@link Resolved}); the operation then acts relative to them, so a
 * directory swapped for a link after the check cannot redirect it.
 */
public final class PathPolicy {

  /** How the final component of a path is treated if it is a symbolic link. */
  public enum Mode {
    /** The operation follows a final link (read, write, list_dir, mkdir). */
    FOLLOW,
    /** The operation acts on a final link itself (stat, remove, rename). */
    NOFOLLOW
  }

  /** Which missing directories a walk creates on its way. */
  enum Create {
    NONE,
    /** All but the final component (write_file). */
    PARENTS,
    /** Every component (mkdir with recursive). */
    ALL
  }

  /** A directory the walk had to create could not be created; the cause says why. */
  static final class CreateFailedException extends IOException {
    private static final long serialVersionUID = 1L;

    CreateFailedException(IOException cause) {
      super(cause.getMessage(), cause);
    }
  }

  /** Paths that may not be accessed, nor anything beneath them. */
  public static final List<String> BLOCKED = List.of("/proc", "/sys", "/dev", "/etc/passwd",
      "/etc/shadow", "/etc/passwd-", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-");

  /**
   * Linux's PATH_MAX, the terminating NUL included: no system call takes a longer path, so no
   * host can mean one, and the walk's work and memory grow with the path's length.
   */
  static final int PATH_MAX = 4096;

  /** Same bound as Linux (MAXSYMLINKS) on links followed while resolving one path. */
  static final int MAX_LINK_HOPS = 40;

  private static final Path ROOT = Path.of("/");

  /** Each blocked path, and its real path if that differs, mapped to the prefix reported. */
  private static final Map<Path, String> BLOCKED_PATHS = new LinkedHashMap<>();

  /** The blocked paths as strings, for the check of each step. */
  private static final Map<String, String> BLOCKED_NAMES = new HashMap<>();

  /** Identity of each blocked directory. */
  private static final Map<Id, String> BLOCKED_DIRS = new HashMap<>();

  /** The device of the file system mounted on /dev, or -1 if /dev is not a mount point. */
  private static final long DEV_FS;

  private record Id(long dev, long ino) {}

  static {
    for (String prefix : BLOCKED) {
      Path p = Path.of(prefix);
      BLOCKED_PATHS.put(p, prefix);
      BLOCKED_NAMES.put(prefix, prefix);
      try {
        Path real = p.toRealPath();
        BLOCKED_PATHS.putIfAbsent(real, prefix);
        BLOCKED_NAMES.putIfAbsent(real.toString(), prefix);
      } catch (IOException | SecurityException e) {
        // Missing or unreadable: the lexical entry still blocks it.
      }
    }
    long devFs = -1;
    FileCalls.Stat root = FileCalls.statAt(LibC.AT_FDCWD, LibC.c("/"), true);
    for (String prefix : BLOCKED) {
      FileCalls.Stat s = FileCalls.statAt(LibC.AT_FDCWD, LibC.c(prefix), true);
      if (s != null && s.isDir()) {
        BLOCKED_DIRS.put(new Id(s.dev(), s.ino()), prefix);
        if (prefix.equals("/dev") && root != null && s.dev() != root.dev()) {
          devFs = s.dev();
        }
      }
    }
    DEV_FS = devFs;
  }

  private PathPolicy() {
  }

  /**
   * Checks {@code path} and returns the absolute, symlink-free path it names: in
   * {@link Mode#FOLLOW} every link is followed; in {@link Mode#NOFOLLOW} all but the final
   * component are. A tail that does not exist yet is appended to the path of its deepest
   * existing ancestor; a dangling link's target is followed the same way. The file operations
   * use {@link #walk} instead, which keeps the descriptors this opens.
   *
   * @throws PathRefusedException if the path is not allowed (message is the wire string; a
   *     path containing a NUL character gets "Invalid path")
   * @throws IOException on a real I/O failure while resolving, e.g. a permission error or
   *     too many levels of symbolic links
   */
  public static Path resolve(String path, Mode mode) throws PathRefusedException, IOException {
    try (Resolved r = walk(names(path), mode == Mode.FOLLOW, Create.NONE)) {
      return Path.of(r.path);
    }
  }

  /**
   * The checks that need no file system: absolute, no NUL, no "..", not a blocked path as
   * written. Returns the components, without empty ones and ".".
   */
  static List<String> names(String path) throws PathRefusedException {
    if (path == null || !path.startsWith("/")) {
      throw new PathRefusedException(Errors.PATH_NOT_ABSOLUTE);
    }
    if (path.indexOf('\0') >= 0) {
      throw new PathRefusedException(Errors.INVALID_PATH);
    }
    if (tooLong(path)) {
      throw new PathRefusedException(Errors.INVALID_PATH + ": longer than " + (PATH_MAX - 1)
          + " bytes");
    }
    List<String> names = new ArrayList<>();
    for (String name : path.split("/")) {
      if (name.equals("..")) {
        throw new PathRefusedException(Errors.PATH_TRAVERSAL);
      }
      if (!name.isEmpty() && !name.equals(".")) {
        names.add(name);
      }
    }
    Path lexical = ROOT;
    for (String name : names) {
      lexical = lexical.resolve(name);
    }
    for (Map.Entry<Path, String> blocked : BLOCKED_PATHS.entrySet()) {
      if (lexical.startsWith(blocked.getKey())) {
        throw refused(blocked.getValue());
      }
    }
    return names;
  }

  /**
   * Whether {@code path} ends in "/" or "/." after at least one name ("/a/", "/a/.", "/a/./"):
   * the system calls then ask for a directory. The root is one anyway.
   */
  static boolean namesDirectory(String path) {
    int end = path.length();
    boolean trailing = false;
    while (true) {
      if (end > 0 && path.charAt(end - 1) == '/') {
        end--;
      } else if (end > 1 && path.charAt(end - 1) == '.' && path.charAt(end - 2) == '/') {
        end -= 2;
      } else {
        break;
      }
      trailing = true;
    }
    return trailing && end > 0;
  }

  /** Whether {@code path} takes more than {@link #PATH_MAX} - 1 bytes in UTF-8. */
  private static boolean tooLong(String path) {
    if (path.length() >= PATH_MAX) {
      return true;
    }
    long bytes = 0;
    for (int i = 0; i < path.length(); i++) {
      char c = path.charAt(i);
      bytes += c < 0x80 ? 1 : c < 0x800 || Character.isSurrogate(c) ? 2 : 3;
    }
    return bytes >= PATH_MAX;
  }

  private static PathRefusedException refused(String prefix) {
    return new PathRefusedException(Errors.systemPath(prefix));
  }

  /**
   * Walks {@code names} from the root, one component at a time, and returns the descriptors of
   * what they name. Each link met (the final one only if {@code followLast}) is resolved here:
   * its target's components are walked next, from the root for an absolute target. Every step
   * is checked before the walk goes on from it. Missing directories are created as
   * {@code create} says, each in the directory descriptor just checked.
   */
  static Resolved walk(List<String> names, boolean followLast, Create create)
      throws PathRefusedException, IOException {
    if (names.size() >= 2) {
      Resolved fast = walkPlain(names, followLast, create == Create.ALL);
      if (fast != null) {
        return fast;
      }
    }
    Deque<String> todo = new ArrayDeque<>(names);
    List<String> at = new ArrayList<>();
    List<FileCalls.Stat> stats = new ArrayList<>();
    List<String> virtual = new ArrayList<>();
    IOException missing = null;
    int cur = openRoot();
    int hops = 0;
    try {
      stats.add(statOf(cur, "/"));
      while (!todo.isEmpty()) {
        String name = todo.pop();
        if (name.equals("..")) {
          // Only link targets get here: back to the directory the walk came through. Going
          // back out of something missing fails, as it does for the system calls (the target
          // "missing/../file" names no file).
          if (!virtual.isEmpty()) {
            throw missing;
          } else if (!at.isEmpty()) {
            cur = up(cur, at, stats);
          }
          continue;
        }
        if (!virtual.isEmpty()) {
          virtual.add(name);
          continue;
        }
        boolean last = todo.isEmpty();
        String here = child(at, name);
        byte[] cname = LibC.c(name);
        int next = FileCalls.openStep(cur, cname);
        if (next < 0) {
          int err = LibC.errno();
          // Nothing is there to check by identity: a blocked place that does not exist yet is
          // refused by its name before it can be made, here or by the operation.
          String blocked = BLOCKED_NAMES.get(here);
          if (blocked != null) {
            throw refused(blocked);
          }
          boolean make = create == Create.ALL || (create == Create.PARENTS && !last);
          if (err == LibC.ENOENT && make) {
            if (LibC.mkdirat(cur, cname, 0777) != 0 && LibC.errno() != LibC.EEXIST) {
              throw new CreateFailedException(FileCalls.lastError(here));
            }
            next = FileCalls.openStep(cur, cname);
            if (next < 0) {
              throw new CreateFailedException(FileCalls.lastError(here));
            }
          } else if (err == LibC.ENOENT || err == LibC.ENOTDIR) {
            missing = FileCalls.error(err, here);
            virtual.add(name);
            continue;
          } else {
            throw FileCalls.error(err, here);
          }
        }
        FileCalls.Stat s = FileCalls.stat(next);
        if (s == null) {
          IOException e = FileCalls.lastError(here);
          LibC.close(next);
          throw e;
        }
        if (s.isLink() && (!last || followLast)) {
          String target;
          try {
            target = FileCalls.readlink(next, here);
          } finally {
            LibC.close(next);
          }
          if (++hops > MAX_LINK_HOPS) {
            throw new IOException("Too many levels of symbolic links");
          }
          if (target.isEmpty()) {
            missing = new java.nio.file.NoSuchFileException(here);
            virtual.add(name);
            continue;
          }
          if (target.startsWith("/")) {
            int root = openRoot();
            LibC.close(cur);
            cur = root;
            at.clear();
            stats.subList(1, stats.size()).clear();
          }
          String[] parts = target.split("/");
          for (int i = parts.length - 1; i >= 0; i--) {
            if (!parts[i].isEmpty() && !parts[i].equals(".")) {
              todo.push(parts[i]);
            }
          }
          continue;
        }
        try {
          check(here, s, stats.get(stats.size() - 1).dev(), next);
        } catch (PathRefusedException e) {
          LibC.close(next);
          throw e;
        }
        if (last) {
          int parent = cur;
          cur = -1;
          return new Resolved(parent, name, next, s, here, null);
        }
        if (s.isDir()) {
          LibC.close(cur);
          cur = next;
          at.add(name);
          stats.add(s);
          continue;
        }
        // A file where the path needs a directory.
        LibC.close(next);
        if (create != Create.NONE) {
          throw new CreateFailedException(new NotDirectoryException(here));
        }
        missing = new NotDirectoryException(here);
        virtual.add(name);
      }
      String base = Resolved.join(at);
      if (virtual.isEmpty()) {
        // The path ends on the directory the walk stands in: the root, or a link's "..".
        int fd = cur;
        cur = -1;
        return new Resolved(-1, at.isEmpty() ? "." : at.get(at.size() - 1), fd,
            stats.get(stats.size() - 1), base,
            new java.nio.file.FileSystemException(base, null, "No parent to act in"));
      }
      String full = (at.isEmpty() ? "" : base) + "/" + String.join("/", virtual);
      if (virtual.size() == 1 && missing instanceof java.nio.file.NoSuchFileException) {
        int parent = cur;
        cur = -1;
        return new Resolved(parent, virtual.get(0), -1, null, full, missing);
      }
      return new Resolved(-1, virtual.get(virtual.size() - 1), -1, null, full, missing);
    } finally {
      FileCalls.closeQuietly(cur);
    }
  }

  /**
   * The common case in one call: the directories up to the final component hold no link and
   * no mount point, so openat2 with RESOLVE_NO_SYMLINKS and RESOLVE_NO_XDEV opens the parent
   * directly, and the kernel guarantees it holds nothing but what the names say (their path was
   * checked by {@link #names}; a blocked directory is a mount point, or reached by a link, or
   * named as such). The final component is then opened and checked as one step of the walk.
   * Returns null whenever this does not apply (a link, a mount, a missing directory, a final
   * link to follow), and the walk then goes one component at a time.
   */
  private static Resolved walkPlain(List<String> names, boolean followLast, boolean createLast)
      throws PathRefusedException, IOException {
    int last = names.size() - 1;
    int parent = FileCalls.openPlainDir(ROOT_FD, LibC.c(String.join("/", names.subList(0, last))));
    if (parent < 0) {
      return null;
    }
    int fd = -1;
    try {
      FileCalls.Stat ps = FileCalls.stat(parent);
      String name = names.get(last);
      fd = FileCalls.openStep(parent, LibC.c(name));
      if (ps == null) {
        return null;
      }
      if (fd < 0) {
        if (LibC.errno() != LibC.ENOENT || createLast) {
          return null;
        }
        String here = "/" + String.join("/", names);
        Resolved r = new Resolved(parent, name, -1, null, here,
            new java.nio.file.NoSuchFileException(here));
        parent = -1;
        return r;
      }
      FileCalls.Stat s = FileCalls.stat(fd);
      if (s == null || (s.isLink() && followLast)) {
        return null;
      }
      String here = "/" + String.join("/", names);
      check(here, s, ps.dev(), fd);
      Resolved r = new Resolved(parent, name, fd, s, here, null);
      parent = -1;
      fd = -1;
      return r;
    } finally {
      FileCalls.closeQuietly(fd);
      FileCalls.closeQuietly(parent);
    }
  }

  /** The root directory, held open for the agent's life. */
  private static final int ROOT_FD = LibC.openat(LibC.AT_FDCWD, LibC.c("/"),
      LibC.O_PATH | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);

  private static String child(List<String> at, String name) {
    return at.isEmpty() ? "/" + name : Resolved.join(at) + "/" + name;
  }

  private static int openRoot() throws IOException {
    int fd = LibC.openat(LibC.AT_FDCWD, LibC.c("/"),
        LibC.O_PATH | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
    if (fd < 0) {
      throw FileCalls.lastError("/");
    }
    return fd;
  }

  private static FileCalls.Stat statOf(int fd, String path) throws IOException {
    FileCalls.Stat s = FileCalls.stat(fd);
    if (s == null) {
      throw FileCalls.lastError(path);
    }
    return s;
  }

  /**
   * Goes from {@code cur} to the directory the walk came through, and makes sure that "..",
   * opened from the descriptor, is that same directory: a directory moved meanwhile fails the
   * walk rather than take it somewhere unchecked.
   */
  private static int up(int cur, List<String> at, List<FileCalls.Stat> stats) throws IOException {
    String where = Resolved.join(at);
    int fd = FileCalls.openUp(cur);
    if (fd < 0) {
      throw FileCalls.lastError(where + "/..");
    }
    FileCalls.Stat s = FileCalls.stat(fd);
    if (s == null || !s.sameObject(stats.get(stats.size() - 2))) {
      LibC.close(fd);
      throw new java.nio.file.FileSystemException(where, null,
          "Path changed while it was resolved");
    }
    LibC.close(cur);
    at.remove(at.size() - 1);
    stats.remove(stats.size() - 1);
    return fd;
  }

  /**
   * The rule on one opened step: refused if its path is a blocked path, if it is a blocked
   * directory or file under any name, or if it lies on a file system that is blocked whole.
   */
  static void check(String path, FileCalls.Stat s, long parentDev, int fd)
      throws PathRefusedException {
    String prefix = BLOCKED_NAMES.get(path);
    if (prefix == null && s.isDir()) {
      prefix = BLOCKED_DIRS.get(new Id(s.dev(), s.ino()));
    }
    if (prefix == null && s.dev() != parentDev) {
      prefix = blockedFileSystem(fd, s.dev());
    }
    if (prefix == null && !s.isDir() && !s.isLink()) {
      prefix = blockedFile(s);
    }
    if (prefix != null) {
      throw refused(prefix);
    }
  }

  /**
   * The rule on a file opened by name after the walk (the final open of a read or a write):
   * not a blocked file, and not on a file system that is blocked whole.
   */
  static void checkOpened(String path, FileCalls.Stat s, int fd) throws PathRefusedException {
    String prefix = blockedFileSystem(fd, s.dev());
    if (prefix == null) {
      prefix = blockedFile(s);
    }
    if (prefix != null) {
      throw refused(prefix);
    }
  }

  private static String blockedFileSystem(int fd, long dev) {
    if (dev == DEV_FS) {
      return "/dev";
    }
    return BLOCKED_TYPES.get(FileCalls.fsType(fd));
  }

  /**
   * File systems that are the kernel's own interfaces, blocked wherever they are mounted, by the
   * place they belong under: proc, sysfs and what lives beside them under /sys (cgroups, tracing,
   * debugging, security, BPF, configfs, pstore, EFI variables), and the terminals' and message
   * queues' file systems of /dev.
   */
  private static final Map<Long, String> BLOCKED_TYPES = Map.ofEntries(
      Map.entry(LibC.PROC_SUPER_MAGIC, "/proc"),
      Map.entry(LibC.SYSFS_MAGIC, "/sys"),
      Map.entry(0x63677270L, "/sys"), // cgroup2
      Map.entry(0x27e0ebL, "/sys"), // cgroup (v1)
      Map.entry(0x74726163L, "/sys"), // tracefs
      Map.entry(0x64626720L, "/sys"), // debugfs
      Map.entry(0x73636673L, "/sys"), // securityfs
      Map.entry(0xcafe4a11L, "/sys"), // bpf
      Map.entry(0x62656570L, "/sys"), // configfs
      Map.entry(0x6165676cL, "/sys"), // pstore
      Map.entry(0xde5e81e4L, "/sys"), // efivarfs
      Map.entry(0x1cd1L, "/dev"), // devpts
      Map.entry(0x19800202L, "/dev")); // mqueue

  // ------------------------------------------------------------------- blocked files by identity

  /** The blocked files' identities, taken again whenever their directory changed. */
  private record FileIds(FileCalls.Stat dir, Map<Id, String> ids) {}

  private static volatile FileIds fileIds;

  /** The blocked file that {@code s} is, under whatever name, or null. */
  static String blockedFile(FileCalls.Stat s) {
    return fileIds().ids().get(new Id(s.dev(), s.ino()));
  }

  private static FileIds fileIds() {
    // Every blocked file lives in /etc: replacing one (as passwd(1) does, by a rename) changes
    // /etc, and an edit in place keeps its identity.
    FileCalls.Stat etc = FileCalls.statAt(LibC.AT_FDCWD, LibC.c("/etc"), true);
    FileIds known = fileIds;
    if (known != null && etc != null && known.dir() != null && etc.sameObject(known.dir())
        && etc.mtimeNs() == known.dir().mtimeNs() && etc.size() == known.dir().size()
        && etc.nlink() == known.dir().nlink()) {
      return known;
    }
    Map<Id, String> ids = new HashMap<>();
    for (String prefix : BLOCKED) {
      FileCalls.Stat f = FileCalls.statAt(LibC.AT_FDCWD, LibC.c(prefix), true);
      if (f != null && !f.isDir()) {
        ids.put(new Id(f.dev(), f.ino()), prefix);
      }
    }
    FileIds fresh = new FileIds(etc, ids);
    fileIds = fresh;
    return fresh;
  }
}
