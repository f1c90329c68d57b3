package files;

import com.sun.jna.Pointer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import protocol.AgentException;
import protocol.Errors;
import protocol.Frames;
import protocol.Request;
import protocol.Response;
import protocol.ResponseWriter;
import sys.LibC;

/**
 * The file operations, blocking but never indefinitely: each walks its path with
 * {@link PathPolicy#walk}, which checks every step it opens, then acts relative to the
 * descriptors the walk returned ({@code openat}, {@code mkdirat}, {@code unlinkat},
 * {@code renameat}, {@code fchmod}), and fails with the contract's error text. Only regular files
 * are opened for reading or writing, so a FIFO or a device never blocks a request.
 */
public final class FileOps {
  /** Room kept in a response frame for everything but the id and the content or entries. */
  private static final int FRAME_OVERHEAD = 1024;

  /** The most raw bytes whose base64 form, with the rest of a response, fits one frame. */
  public static final int MAX_CHUNK = (Frames.MAX_FRAME - FRAME_OVERHEAD) / 4 * 3;

  /** The deepest tree a recursive remove goes into (each level holds a descriptor). */
  static final int MAX_TREE_DEPTH = 512;

  static final String NOT_REGULAR = "not a regular file";

  private static final int DT_UNKNOWN = 0;
  private static final int DT_DIR = 4;

  private FileOps() {}

  /** For a thread that served file requests, as it ends: frees what it kept for them. */
  public static void threadEnds() {
    FileCalls.releaseBuffer();
  }

  // ------------------------------------------------------------------------------- write_file

  public static Response write(Request.WriteFile r) {
    List<String> names = names(r.path());
    if (r.contentBase64() == null) {
      throw Errors.plain(Errors.NO_CONTENT);
    }
    byte[] content = Errors.base64(r.contentBase64());
    try (Resolved p = walk(names, PathPolicy.Mode.FOLLOW, PathPolicy.Create.PARENTS,
        Errors.WRITE_FAILED)) {
      mustBeDirectory(r.path(), p);
      if (!p.exists() && PathPolicy.namesDirectory(r.path())) {
        throw FileCalls.error(LibC.EISDIR, p.path);
      }
      if (p.exists() && p.stat.isDir()) {
        throw new IOException("Is a directory: " + p.path);
      }
      if (p.exists() && !p.stat.isRegular()) {
        throw new IOException(NOT_REGULAR);
      }
      if (r.append()) {
        append(p, content, r.mode());
      } else {
        replace(p, content, r.mode());
      }
    } catch (IOException e) {
      throw Errors.failed(Errors.WRITE_FAILED, e);
    }
    return Response.ok(r.id());
  }

  private static void append(Resolved p, byte[] content, Integer mode) throws IOException {
    int fd = LibC.openat(p.parent(), p.cname(), LibC.O_WRONLY | LibC.O_APPEND | LibC.O_CREAT
        | LibC.O_NOFOLLOW | LibC.O_NONBLOCK | LibC.O_NOCTTY | LibC.O_CLOEXEC, 0666);
    if (fd < 0) {
      throw changedOr(LibC.errno(), p.path);
    }
    try {
      opened(p, fd);
      FileCalls.writeAll(fd, content, p.path);
      if (mode != null && LibC.fchmod(fd, mode) != 0) {
        throw FileCalls.lastError(p.path);
      }
    } finally {
      LibC.close(fd);
    }
  }

  /**
   * Writes to a temporary file beside the target, syncs it, then renames it over the target, so
   * that a reader sees the old file or the new one, never half of one. Without an explicit mode,
   * an existing file keeps its permission bits but the set-ID ones.
   */
  private static void replace(Resolved p, byte[] content, Integer mode) throws IOException {
    int dir = p.parent();
    Integer keep = mode;
    if (keep == null && p.exists()) {
      // The new file is the agent's (root's): set-user-ID and set-group-ID bits kept from a file
      // someone else owned would make a program run as root from bytes the host wrote.
      keep = p.stat.mode() & 01777;
    }
    // Named after the file where that fits a name's 255 bytes (28 are the rest of this name).
    String base = p.name.getBytes(StandardCharsets.UTF_8).length <= 200 ? p.name : "";
    byte[] tmp = LibC.c("." + base + ".agent-"
        + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
    int fd = LibC.openat(dir, tmp, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_NOFOLLOW
        | LibC.O_CLOEXEC, 0666);
    if (fd < 0) {
      throw FileCalls.lastError(p.path);
    }
    boolean renamed = false;
    try {
      try {
        FileCalls.writeAll(fd, content, p.path);
        if (LibC.fsync(fd) != 0) {
          throw FileCalls.lastError(p.path);
        }
        if (keep != null && LibC.fchmod(fd, keep) != 0) {
          throw FileCalls.lastError(p.path);
        }
      } finally {
        LibC.close(fd);
      }
      if (LibC.renameat(dir, tmp, dir, p.cname()) != 0) {
        throw FileCalls.lastError(p.path);
      }
      renamed = true;
      syncDirectory(dir);
    } finally {
      if (!renamed) {
        LibC.unlinkat(dir, tmp, 0);
      }
    }
  }

  /** Makes a rename in {@code dir} durable. Best effort: not every file system allows it. */
  private static void syncDirectory(int dir) {
    int fd = LibC.openat(dir, FileCalls.DOT, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
    if (fd >= 0) {
      LibC.fsync(fd);
      LibC.close(fd);
    }
  }

  /**
   * Checks what a final open (after the walk) really opened: a regular file, the one the walk
   * saw if it saw one, and not a blocked file, whatever was put at the name meanwhile.
   */
  private static FileCalls.Stat opened(Resolved p, int fd) throws IOException {
    FileCalls.Stat s = FileCalls.stat(fd);
    if (s == null) {
      throw FileCalls.lastError(p.path);
    }
    if (!s.isRegular()) {
      throw new IOException(NOT_REGULAR);
    }
    if (p.exists()) {
      // The object the walk checked.
      if (!s.sameObject(p.stat)) {
        throw changed(p.path);
      }
      return s;
    }
    try {
      PathPolicy.checkOpened(p.path, s, fd);
    } catch (PathRefusedException e) {
      throw refused(e);
    }
    return s;
  }

  private static IOException changed(String path) {
    return new FileSystemException(path, null, "Path changed during the request");
  }

  /** A final open that met a link where the walk saw none: the path changed meanwhile. */
  private static IOException changedOr(int err, String path) {
    return err == LibC.ELOOP ? changed(path) : FileCalls.error(err, path);
  }

  // -------------------------------------------------------------------------------- read_file

  public static Response read(Request.ReadFile r) {
    return read(r, n -> true);
  }

  /**
   * {@code reserve} is asked for the bytes about to be read; when it says no, the answer is
   * {@code Busy} and nothing is read. The caller gives them back if the read fails after that.
   */
  public static Response read(Request.ReadFile r, java.util.function.LongPredicate reserve) {
    List<String> names = names(r.path());
    // A long id takes room from the content.
    long max = Math.max(0, Math.min(MAX_CHUNK,
        (Frames.MAX_FRAME - FRAME_OVERHEAD - ResponseWriter.escapedLength(r.id())) / 4 * 3));
    try (Resolved p = walk(names, PathPolicy.Mode.FOLLOW, PathPolicy.Create.NONE,
        Errors.READ_FAILED)) {
      mustBeDirectory(r.path(), p);
      FileCalls.Stat st = p.existing();
      if (st.isDir()) {
        throw new IOException("Is a directory: " + p.path);
      }
      if (!st.isRegular()) {
        throw new IOException(NOT_REGULAR);
      }
      int fd = LibC.openat(p.parent(), p.cname(), LibC.O_RDONLY | LibC.O_NOFOLLOW
          | LibC.O_NONBLOCK | LibC.O_NOCTTY | LibC.O_CLOEXEC, 0);
      if (fd < 0) {
        throw changedOr(LibC.errno(), p.path);
      }
      try {
        long size = opened(p, fd).size();
        boolean chunked = r.offset() != null || r.length() != null;
        if (!chunked) {
          if (size > max) {
            throw Errors.fileTooLarge(size);
          }
          reserveOrBusy(reserve, size);
          return Response.content(r.id(), FileCalls.readAt(fd, 0, (int) size, p.path));
        }
        long offset = r.offset() == null ? 0 : r.offset();
        long want = r.length() == null ? max : Math.min(r.length(), max);
        long n = Math.max(0, Math.min(want, size - offset));
        reserveOrBusy(reserve, n);
        byte[] data = FileCalls.readAt(fd, offset, (int) n, p.path);
        return Response.chunk(r.id(), data, size, offset + data.length >= size);
      } finally {
        LibC.close(fd);
      }
    } catch (IOException e) {
      throw Errors.failed(Errors.READ_FAILED, e);
    }
  }

  private static void reserveOrBusy(java.util.function.LongPredicate reserve, long n) {
    if (n > 0 && !reserve.test(n)) {
      throw Errors.busy("memory for answers on their way to hosts (over all connections)");
    }
  }

  // ------------------------------------------------------------------------------ remove_file

  public static Response remove(Request.RemoveFile r) {
    List<String> names = names(r.path());
    try (Resolved p = walk(names, PathPolicy.Mode.NOFOLLOW, PathPolicy.Create.NONE,
        Errors.REMOVE_FAILED)) {
      mustBeDirectory(r.path(), p);
      if (r.recursive()) {
        refuseIfContainsBlocked(p.path);
      }
      FileCalls.Stat st = p.existing();
      if (st.isDir()) {
        if (!r.recursive()) {
          throw new IOException("Is a directory (use recursive): " + p.path);
        }
        removeTree(p);
      } else if (LibC.unlinkat(p.parent(), p.cname(), 0) != 0) {
        throw FileCalls.lastError(p.path);
      }
    } catch (IOException e) {
      throw Errors.failed(Errors.REMOVE_FAILED, e);
    }
    return Response.ok(r.id());
  }

  /** One directory being emptied by {@link #removeTree}. */
  private record Level(int fd, Pointer dir, String path, byte[] cname, long dev) {}

  /**
   * Deletes a tree from the directory descriptor down, never leaving it: every directory is
   * opened with {@code O_NOFOLLOW | O_DIRECTORY} relative to its parent's descriptor, so a link
   * met (or swapped in for a directory meanwhile) is unlinked, never entered.
   */
  private static void removeTree(Resolved p) throws IOException {
    int parent = p.parent();
    byte[] topName = p.cname();
    int top = LibC.openat(parent, topName, LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_NOFOLLOW
        | LibC.O_CLOEXEC, 0);
    if (top < 0) {
      int err = LibC.errno();
      if (err == LibC.ELOOP || err == LibC.ENOTDIR) {
        unlinkName(parent, topName, p.path);
        return;
      }
      throw FileCalls.error(err, p.path);
    }
    FileCalls.Stat ts = FileCalls.stat(top);
    if (ts == null || !ts.sameObject(p.stat)) {
      LibC.close(top);
      throw changed(p.path);
    }
    if (ts.mountRoot()) {
      LibC.close(top);
      throw mountPoint(p.path);
    }
    Deque<Level> stack = new ArrayDeque<>();
    try {
      push(stack, top, p.path, topName, ts.dev());
      while (!stack.isEmpty()) {
        Level level = stack.peek();
        Pointer e = LibC.readdir64(level.dir());
        if (e == null) {
          stack.pop();
          LibC.closedir(level.dir());
          int in = stack.isEmpty() ? parent : stack.peek().fd();
          if (LibC.unlinkat(in, level.cname(), LibC.AT_REMOVEDIR) != 0) {
            int err = LibC.errno();
            if (err == LibC.ENOTDIR) {
              // Swapped for a link or a file after it was emptied: remove that name.
              unlinkName(in, level.cname(), level.path());
            } else if (err != LibC.ENOENT) {
              throw FileCalls.error(err, level.path());
            }
          }
          continue;
        }
        byte[] cname = entryName(e);
        if (isDotOrDotDot(cname)) {
          continue;
        }
        String path = level.path() + "/" + text(cname);
        int type = e.getByte(18) & 0xff;
        if (type == DT_UNKNOWN) {
          FileCalls.Stat s = FileCalls.statAt(level.fd(), cname, false);
          type = s != null && s.isDir() ? DT_DIR : 8;
        }
        if (type != DT_DIR) {
          // A blocked file under another name (a hard link, or its own directory mounted
          // inside the tree) is refused, not unlinked.
          FileCalls.Stat fs = FileCalls.statAt(level.fd(), cname, false);
          String blocked = fs == null || fs.isDir() ? null : PathPolicy.blockedFile(fs);
          if (blocked != null) {
            throw refused(new PathRefusedException(Errors.systemPath(blocked)));
          }
          if (LibC.unlinkat(level.fd(), cname, 0) == 0) {
            continue;
          }
          int err = LibC.errno();
          if (err == LibC.ENOENT) {
            continue;
          }
          if (err != LibC.EISDIR && err != LibC.EPERM) {
            throw FileCalls.error(err, path);
          }
        }
        int child = LibC.openat(level.fd(), cname, LibC.O_RDONLY | LibC.O_DIRECTORY
            | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
        if (child < 0) {
          int err = LibC.errno();
          if (err == LibC.ELOOP || err == LibC.ENOTDIR) {
            unlinkName(level.fd(), cname, path);
          } else if (err != LibC.ENOENT) {
            throw FileCalls.error(err, path);
          }
          continue;
        }
        FileCalls.Stat cs = FileCalls.stat(child);
        try {
          if (cs == null) {
            throw FileCalls.lastError(path);
          }
          PathPolicy.check(path, cs, level.dev(), child);
          if (cs.mountRoot()) {
            throw mountPoint(path);
          }
          if (stack.size() >= MAX_TREE_DEPTH) {
            throw new FileSystemException(path, null,
                "Tree deeper than " + MAX_TREE_DEPTH + " levels");
          }
        } catch (PathRefusedException ex) {
          LibC.close(child);
          throw refused(ex);
        } catch (IOException ex) {
          LibC.close(child);
          throw ex;
        }
        push(stack, child, path, cname, cs.dev());
      }
    } finally {
      for (Level level : stack) {
        LibC.closedir(level.dir());
      }
    }
  }

  /**
   * What is mounted on a directory belongs elsewhere: emptying it would delete another
   * directory's files (a bind mount of /etc, say), and rmdir would refuse the mount point anyway.
   */
  private static IOException mountPoint(String path) {
    return new FileSystemException(path, null, "Device or resource busy (a mount point)");
  }

  private static void push(Deque<Level> stack, int fd, String path, byte[] cname, long dev)
      throws IOException {
    Pointer dir = LibC.fdopendir(fd);
    if (dir == null) {
      IOException e = FileCalls.lastError(path);
      LibC.close(fd);
      throw e;
    }
    stack.push(new Level(fd, dir, path, cname, dev));
  }

  private static void unlinkName(int dir, byte[] cname, String path) throws IOException {
    if (LibC.unlinkat(dir, cname, 0) != 0 && LibC.errno() != LibC.ENOENT) {
      throw FileCalls.lastError(path);
    }
  }

  /** The name in a {@code struct dirent64}, as the NUL-terminated bytes the C library takes. */
  private static byte[] entryName(Pointer e) {
    int reclen = e.getShort(16) & 0xffff;
    byte[] raw = e.getByteArray(19, reclen - 19);
    int len = 0;
    while (len < raw.length && raw[len] != 0) {
      len++;
    }
    return java.util.Arrays.copyOf(raw, len + 1);
  }

  private static boolean isDotOrDotDot(byte[] c) {
    return (c.length == 2 && c[0] == '.') || (c.length == 3 && c[0] == '.' && c[1] == '.');
  }

  private static String text(byte[] cname) {
    return new String(cname, 0, cname.length - 1, StandardCharsets.UTF_8);
  }

  // ------------------------------------------------------------------------------------ mkdir

  public static Response mkdir(Request.Mkdir r) {
    List<String> names = names(r.path());
    PathPolicy.Create create = r.recursive() ? PathPolicy.Create.ALL : PathPolicy.Create.NONE;
    try (Resolved p = walk(names, PathPolicy.Mode.FOLLOW, create, Errors.MKDIR_FAILED)) {
      if (r.recursive()) {
        if (!p.existing().isDir()) {
          throw new FileAlreadyExistsException(p.path);
        }
      } else if (p.exists()) {
        throw new FileAlreadyExistsException(p.path);
      } else if (LibC.mkdirat(p.parent(), p.cname(), 0777) != 0) {
        throw FileCalls.lastError(p.path);
      }
    } catch (IOException e) {
      throw Errors.failed(Errors.MKDIR_FAILED, e);
    }
    return Response.ok(r.id());
  }

  // ------------------------------------------------------------------------------------- stat

  public static Response stat(Request.Stat r) {
    List<String> names = names(r.path());
    // As for stat(2), a final "/" follows a final link.
    PathPolicy.Mode mode = PathPolicy.namesDirectory(r.path()) ? PathPolicy.Mode.FOLLOW
        : PathPolicy.Mode.NOFOLLOW;
    try (Resolved p = walk(names, mode, PathPolicy.Create.NONE, Errors.STAT_FAILED)) {
      mustBeDirectory(r.path(), p);
      return Response.stat(r.id(), describe(p.existing()));
    } catch (IOException e) {
      throw Errors.failed(Errors.STAT_FAILED, e);
    }
  }

  // --------------------------------------------------------------------------------- list_dir

  public static Response list(Request.ListDir r) {
    return list(r, n -> true);
  }

  /**
   * Lists a directory, reading it only as far as an answer can hold: past one frame's worth of
   * entries it stops and fails, so memory never exceeds what could be sent. What the listing holds
   * is asked of {@code reserve} as it grows; when that says no, the answer is {@code Busy}. The
   * caller gives it all back once the answer is a frame, or has failed.
   */
  public static Response list(Request.ListDir r, java.util.function.LongPredicate reserve) {
    List<String> names = names(r.path());
    long budget = Frames.MAX_FRAME - FRAME_OVERHEAD - 6L * r.id().length();
    Listing entries = new Listing(reserve, budget);
    try (Resolved p = walk(names, PathPolicy.Mode.FOLLOW, PathPolicy.Create.NONE,
        Errors.LIST_FAILED)) {
      if (!p.existing().isDir()) {
        throw new NotDirectoryException(p.path);
      }
      int fd = LibC.openat(p.fd, FileCalls.DOT,
          LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
      if (fd < 0) {
        throw FileCalls.lastError(p.path);
      }
      Pointer dir = LibC.fdopendir(fd);
      if (dir == null) {
        IOException e = FileCalls.lastError(p.path);
        LibC.close(fd);
        throw e;
      }
      try {
        Pointer e;
        while ((e = LibC.readdir64(dir)) != null) {
          byte[] cname = entryName(e);
          if (isDotOrDotDot(cname)) {
            continue;
          }
          FileCalls.Stat s = FileCalls.statAt(fd, cname, false);
          if (s == null) {
            continue; // Removed while listing.
          }
          entries.add(cname, s);
        }
      } finally {
        LibC.closedir(dir);
      }
    } catch (IOException e) {
      throw Errors.failed(Errors.LIST_FAILED, e);
    }
    entries.sort();
    return Response.entries(r.id(), entries);
  }

  private static Map<String, Object> describe(FileCalls.Stat s) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("type", Listing.typeName(s));
    out.put("size", s.size());
    out.put("mode", s.mode() & 07777);
    out.put("mtime_ms", s.mtimeMs());
    return out;
  }

  // ----------------------------------------------------------------------------------- rename

  public static Response rename(Request.Rename r) {
    List<String> fromNames = names(r.path());
    try (Resolved from = walk(fromNames, PathPolicy.Mode.NOFOLLOW, PathPolicy.Create.NONE,
        Errors.RENAME_FAILED)) {
      if (r.newPath() == null) {
        throw Errors.plain(Errors.NO_NEW_PATH);
      }
      List<String> toNames = names(r.newPath());
      try (Resolved to = walk(toNames, PathPolicy.Mode.NOFOLLOW, PathPolicy.Create.NONE,
          Errors.RENAME_FAILED)) {
        // Moving a directory moves everything in it; replacing one (an empty one) would too.
        refuseIfContainsBlocked(from.path);
        refuseIfContainsBlocked(to.path);
        mustBeDirectory(r.path(), from);
        mustBeDirectory(r.newPath(), to);
        if (!from.existing().isDir() && PathPolicy.namesDirectory(r.newPath())) {
          throw FileCalls.error(LibC.ENOTDIR, to.path);
        }
        if (LibC.renameat(from.parent(), from.cname(), to.parent(), to.cname()) != 0) {
          throw FileCalls.lastError(from.path + " -> " + to.path);
        }
      }
    } catch (IOException e) {
      throw Errors.failed(Errors.RENAME_FAILED, e);
    }
    return Response.ok(r.id());
  }

  /**
   * Refuses an operation on a whole tree (recursive remove, rename) whose root holds a blocked
   * path, such as {@code /etc} (which holds {@code /etc/passwd}) or {@code /}. The path itself was
   * already checked; this looks at what lies beneath it, by the blocked paths as written and as
   * they really are.
   */
  private static void refuseIfContainsBlocked(String path) {
    Path root = Path.of(path);
    for (String prefix : PathPolicy.BLOCKED) {
      Path blocked = Path.of(prefix);
      boolean inside = blocked.startsWith(root);
      if (!inside) {
        try {
          inside = blocked.toRealPath().startsWith(root);
        } catch (IOException | SecurityException e) {
          // Missing or unreadable: its lexical form was checked above.
        }
      }
      if (inside) {
        throw Errors.plain(Errors.systemPath(prefix));
      }
    }
  }

  // ---------------------------------------------------------------------------------- helpers

  /**
   * A path that ends in "/" (or "/.") names a directory, as it does for the system calls: when
   * what it names exists and is not one (a file, or a final link not followed), the request
   * fails with "Not a directory" instead of acting on it.
   */
  private static void mustBeDirectory(String path, Resolved p) throws IOException {
    if (p.exists() && !p.stat.isDir() && PathPolicy.namesDirectory(path)) {
      throw FileCalls.error(LibC.ENOTDIR, p.path);
    }
  }

  /**
   * The path's components after the checks that need no file system. A file request's path is
   * never null (the request refuses that itself); a rename's new_path is checked before this.
   */
  private static List<String> names(String path) {
    try {
      return PathPolicy.names(path);
    } catch (PathRefusedException e) {
      throw refused(e);
    }
  }

  /** A path the rule refuses: its text is the wire error. */
  private static AgentException refused(PathRefusedException e) {
    return Errors.plain(e.getMessage());
  }

  /** The walk; a path that cannot even be walked fails with the operation's prefix. */
  private static Resolved walk(List<String> names, PathPolicy.Mode mode,
      PathPolicy.Create create, String failPrefix) {
    try {
      return PathPolicy.walk(names, mode == PathPolicy.Mode.FOLLOW, create);
    } catch (PathRefusedException e) {
      throw refused(e);
    } catch (PathPolicy.CreateFailedException e) {
      throw Errors.failed(create == PathPolicy.Create.PARENTS ? Errors.CREATE_PARENT_FAILED
          : failPrefix, e.getCause());
    } catch (IOException e) {
      throw Errors.failed(failPrefix, e);
    }
  }
}
