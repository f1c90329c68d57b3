package files;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Base64;
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

/**
 * The file operations, blocking. Each checks its path with {@link PathPolicy}, works on the path
 * that the policy resolved, and fails with the contract's error text.
 */
public final class FileOps {
  /** Room kept in a response frame for everything but the id and the content or entries. */
  private static final int FRAME_OVERHEAD = 1024;

  /** The most raw bytes whose base64 form, with the rest of a response, fits one frame. */
  public static final int MAX_CHUNK = (Frames.MAX_FRAME - FRAME_OVERHEAD) / 4 * 3;

  private FileOps() {}

  public static Response write(Request r) {
    Path path = resolve(r.path(), PathPolicy.Mode.FOLLOW, Errors.WRITE_FAILED);
    if (r.contentBase64() == null) {
      throw Errors.plain(Errors.NO_CONTENT);
    }
    byte[] content = decode(r.contentBase64());
    Path parent = path.getParent();
    if (parent != null) {
      try {
        Files.createDirectories(parent);
      } catch (FileAlreadyExistsException e) {
        throw Errors.failed(Errors.CREATE_PARENT_FAILED, "Not a directory: " + e.getFile());
      } catch (IOException e) {
        throw Errors.failed(Errors.CREATE_PARENT_FAILED, e);
      }
    }
    try {
      if (r.isAppend()) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE,
            StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
          writeAll(ch, content);
        }
        if (r.mode() != null) {
          setMode(path, r.mode());
        }
      } else {
        replace(path, content, r.mode());
      }
    } catch (IOException e) {
      throw Errors.failed(Errors.WRITE_FAILED, e);
    }
    return Response.ok(r.id());
  }

  /**
   * Writes to a temporary file beside the target, syncs it, then renames it over the target, so
   * that a reader sees the old file or the new one, never half of one. Without an explicit mode,
   * an existing file keeps its permission bits.
   */
  private static void replace(Path path, byte[] content, Integer mode) throws IOException {
    if (Files.isDirectory(path)) {
      throw new IOException("Is a directory: " + path);
    }
    Integer keep = mode;
    if (keep == null && Files.exists(path)) {
      keep = (Integer) Files.getAttribute(path, "unix:mode") & 07777;
    }
    Path tmp = path.resolveSibling("." + path.getFileName() + ".agent-"
        + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW,
          StandardOpenOption.WRITE)) {
        writeAll(ch, content);
        ch.force(true);
      }
      if (keep != null) {
        setMode(tmp, keep);
      }
      Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE);
      syncDirectory(path.getParent());
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** Makes a rename in {@code dir} durable. Best effort: not every file system allows it. */
  private static void syncDirectory(Path dir) {
    if (dir == null) {
      return;
    }
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      // The file itself is synced and renamed; only the rename's durability is left to the OS.
    }
  }

  private static void writeAll(FileChannel ch, byte[] content) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(content);
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }

  private static void setMode(Path path, int mode) throws IOException {
    Files.setAttribute(path, "unix:mode", mode);
  }

  public static Response read(Request r) {
    Path path = resolve(r.path(), PathPolicy.Mode.FOLLOW, Errors.READ_FAILED);
    // A long id takes room from the content.
    long max = Math.max(0, Math.min(MAX_CHUNK,
        (Frames.MAX_FRAME - FRAME_OVERHEAD - ResponseWriter.escapedLength(r.id())) / 4 * 3));
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
      if (Files.isDirectory(path)) {
        throw new IOException("Is a directory: " + path);
      }
      long size = ch.size();
      boolean chunked = r.offset() != null || r.length() != null;
      if (!chunked) {
        if (size > max) {
          throw new AgentException("File too large: " + size
              + " bytes (read it in chunks with offset/length)");
        }
        return Response.ok(r.id()).with("content_base64", readAt(ch, 0, (int) size));
      }
      long offset = r.offset() == null ? 0 : r.offset();
      long want = r.length() == null ? max : Math.min(r.length(), max);
      long n = Math.max(0, Math.min(want, size - offset));
      byte[] data = readAt(ch, offset, (int) n);
      return Response.ok(r.id()).with("content_base64", data).with("size", size)
          .with("eof", offset + data.length >= size);
    } catch (IOException e) {
      throw Errors.failed(Errors.READ_FAILED, e);
    }
  }

  private static byte[] readAt(FileChannel ch, long offset, int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    long pos = offset;
    while (b.hasRemaining()) {
      int got = ch.read(b, pos);
      if (got < 0) {
        break;
      }
      pos += got;
    }
    return b.position() == n ? b.array() : java.util.Arrays.copyOf(b.array(), b.position());
  }

  public static Response remove(Request r) {
    Path path = resolve(r.path(), PathPolicy.Mode.NOFOLLOW, Errors.REMOVE_FAILED);
    if (r.isRecursive()) {
      refuseIfContainsBlocked(path);
    }
    try {
      if (Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)) {
        if (!r.isRecursive()) {
          throw new IOException("Is a directory (use recursive): " + path);
        }
        removeTree(path);
      } else {
        Files.delete(path);
      }
    } catch (IOException e) {
      throw Errors.failed(Errors.REMOVE_FAILED, e);
    }
    return Response.ok(r.id());
  }

  /** Deletes a tree without following any link inside it. */
  private static void removeTree(Path root) throws IOException {
    Files.walkFileTree(root, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        Files.delete(file);
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
        if (e != null) {
          throw e;
        }
        Files.delete(dir);
        return FileVisitResult.CONTINUE;
      }
    });
  }

  public static Response mkdir(Request r) {
    Path path = resolve(r.path(), PathPolicy.Mode.FOLLOW, Errors.MKDIR_FAILED);
    try {
      if (r.isRecursive()) {
        Files.createDirectories(path);
      } else {
        Files.createDirectory(path);
      }
    } catch (IOException e) {
      throw Errors.failed(Errors.MKDIR_FAILED, e);
    }
    return Response.ok(r.id());
  }

  public static Response stat(Request r) {
    Path path = resolve(r.path(), PathPolicy.Mode.NOFOLLOW, Errors.STAT_FAILED);
    try {
      return Response.ok(r.id()).with("stat", describe(path, null));
    } catch (IOException e) {
      throw Errors.failed(Errors.STAT_FAILED, e);
    }
  }

  public static Response list(Request r) {
    Path path = resolve(r.path(), PathPolicy.Mode.FOLLOW, Errors.LIST_FAILED);
    List<Map<String, Object>> entries = new ArrayList<>();
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(path)) {
      List<Path> names = new ArrayList<>();
      dir.forEach(names::add);
      names.sort(null);
      for (Path p : names) {
        try {
          entries.add(describe(p, p.getFileName().toString()));
        } catch (java.nio.file.NoSuchFileException e) {
          // Removed while listing.
        }
      }
    } catch (IOException e) {
      throw Errors.failed(Errors.LIST_FAILED, e);
    }
    Response out = Response.ok(r.id()).with("entries", entries);
    long bytes = ResponseWriter.json(out).length;
    if (bytes > Frames.MAX_FRAME) {
      throw Errors.failed(Errors.LIST_FAILED, "Too many entries for one response: "
          + entries.size() + " (" + bytes + " bytes, max " + Frames.MAX_FRAME + ")");
    }
    return out;
  }

  private static Map<String, Object> describe(Path p, String name) throws IOException {
    Map<String, Object> a = Files.readAttributes(p, "unix:mode,size,lastModifiedTime",
        LinkOption.NOFOLLOW_LINKS);
    int mode = (Integer) a.get("mode");
    Map<String, Object> out = new LinkedHashMap<>();
    if (name != null) {
      out.put("name", name);
    }
    out.put("type", switch (mode & 0170000) {
      case 0100000 -> "file";
      case 0040000 -> "dir";
      case 0120000 -> "symlink";
      default -> "other";
    });
    out.put("size", (Long) a.get("size"));
    out.put("mode", mode & 07777);
    out.put("mtime_ms", ((FileTime) a.get("lastModifiedTime")).toMillis());
    return out;
  }

  public static Response rename(Request r) {
    Path from = resolve(r.path(), PathPolicy.Mode.NOFOLLOW, Errors.RENAME_FAILED);
    if (r.newPath() == null) {
      throw Errors.plain(Errors.NO_NEW_PATH);
    }
    Path to = check(r.newPath(), PathPolicy.Mode.NOFOLLOW, Errors.RENAME_FAILED);
    // Moving a directory moves everything in it; replacing one (an empty one) would too.
    refuseIfContainsBlocked(from);
    refuseIfContainsBlocked(to);
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
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
  private static void refuseIfContainsBlocked(Path root) {
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
        throw new AgentException("Cannot access system path: " + prefix);
      }
    }
  }

  private static Path resolve(String path, PathPolicy.Mode mode, String failPrefix) {
    if (path == null) {
      throw Errors.plain(Errors.NO_PATH);
    }
    return check(path, mode, failPrefix);
  }

  /** The path rule; a path that cannot even be resolved fails with the operation's prefix. */
  private static Path check(String path, PathPolicy.Mode mode, String failPrefix) {
    try {
      return PathPolicy.resolve(path, mode);
    } catch (PathRefusedException e) {
      throw new AgentException(e.getMessage());
    } catch (IOException e) {
      throw Errors.failed(failPrefix, e);
    }
  }

  private static byte[] decode(String b64) {
    try {
      return Base64.getDecoder().decode(b64);
    } catch (IllegalArgumentException e) {
      throw Errors.failed(Errors.INVALID_BASE64, e.getMessage());
    }
  }

}
