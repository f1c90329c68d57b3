package files;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Decides whether a path sent by the host may be used for a file operation, and returns the
 * path the operation must actually use.
 *
 * <p>A path is refused if it is not absolute, has a {@code ..} component, or names (after
 * normalising repeated slashes and {@code .} components, and after following symbolic links)
 * something at or under one of {@link #BLOCKED}. Comparisons are by whole components, so
 * {@code /processes} or {@code /etc/passwd-} are allowed.
 */
public final class PathPolicy {

  /** How the final component of a path is treated if it is a symbolic link. */
  public enum Mode {
    /** The operation follows a final link (read, write, list_dir, mkdir). */
    FOLLOW,
    /** The operation acts on a final link itself (stat, remove, rename). */
    NOFOLLOW
  }

  /** Paths that may not be accessed, nor anything beneath them. */
  public static final List<String> BLOCKED =
      List.of("/proc", "/sys", "/dev", "/etc/passwd", "/etc/shadow");

  /** Same bound as Linux (MAXSYMLINKS) on links followed while resolving one path. */
  static final int MAX_LINK_HOPS = 40;

  private static final Path ROOT = Path.of("/");

  /**
   * Each blocked path, plus its real path if that differs (say /etc/shadow were itself a
   * link), mapped to the prefix reported in the error.
   */
  private static final Map<Path, String> BLOCKED_PATHS = new LinkedHashMap<>();

  static {
    for (String prefix : BLOCKED) {
      Path p = Path.of(prefix);
      BLOCKED_PATHS.put(p, prefix);
      try {
        BLOCKED_PATHS.putIfAbsent(p.toRealPath(), prefix);
      } catch (IOException | SecurityException e) {
        // Missing or unreadable: the lexical entry still blocks it.
      }
    }
  }

  private PathPolicy() {
  }

  /**
   * Checks {@code path} and returns the absolute, symlink-free path to operate on: in
   * {@link Mode#FOLLOW} every link is followed; in {@link Mode#NOFOLLOW} all but the final
   * component are. A tail that does not exist yet is appended to the real path of its
   * deepest existing ancestor; a dangling link's target is followed the same way.
   *
   * @throws PathRefusedException if the path is not allowed (message is the wire string; a
   *     path containing a NUL character gets "Invalid path")
   * @throws IOException on a real I/O failure while resolving, e.g. a permission error or
   *     too many levels of symbolic links
   */
  public static Path resolve(String path, Mode mode) throws PathRefusedException, IOException {
    if (path == null || !path.startsWith("/")) {
      throw new PathRefusedException("Path must be absolute");
    }
    if (path.indexOf('\0') >= 0) {
      throw new PathRefusedException("Invalid path");
    }
    // Split into components, dropping the empty ones from repeated slashes and ".".
    List<String> names = new ArrayList<>();
    for (String name : path.split("/")) {
      if (name.equals("..")) {
        throw new PathRefusedException("Path traversal not allowed");
      }
      if (!name.isEmpty() && !name.equals(".")) {
        names.add(name);
      }
    }
    Path lexical = ROOT;
    for (String name : names) {
      lexical = lexical.resolve(name);
    }
    checkNotBlocked(lexical);
    Path resolved = walk(names, mode == Mode.FOLLOW);
    checkNotBlocked(resolved);
    return resolved;
  }

  /**
   * Resolves components from the root one at a time, as the kernel does, following each
   * link met (the last one only if {@code followLast}) by splicing its target text in place.
   * The result contains no links, except possibly a final unfollowed one. Components that do
   * not exist are appended as they are.
   */
  private static Path walk(List<String> names, boolean followLast) throws IOException {
    Deque<String> todo = new ArrayDeque<>(names);
    Path current = ROOT;
    int hops = 0;
    while (!todo.isEmpty()) {
      String name = todo.pop();
      if (name.isEmpty() || name.equals(".")) {
        continue;
      }
      if (name.equals("..")) {
        // Only link targets get here. current holds no links, so its lexical parent
        // is its real parent.
        current = current.getParent() == null ? ROOT : current.getParent();
        continue;
      }
      Path next = current.resolve(name);
      if ((followLast || !todo.isEmpty()) && isSymbolicLink(next)) {
        if (++hops > MAX_LINK_HOPS) {
          throw new IOException("Too many levels of symbolic links");
        }
        String target = Files.readSymbolicLink(next).toString();
        if (target.startsWith("/")) {
          current = ROOT;
        }
        // The target's components are resolved next, relative to the link's directory.
        String[] parts = target.split("/");
        for (int i = parts.length - 1; i >= 0; i--) {
          todo.push(parts[i]);
        }
      } else {
        current = next;
      }
    }
    return current;
  }

  /** lstat-based: false if nothing is at the path; other I/O errors propagate. */
  private static boolean isSymbolicLink(Path p) throws IOException {
    try {
      return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
          .isSymbolicLink();
    } catch (NoSuchFileException e) {
      return false;
    } catch (FileSystemException e) {
      // A file used as a directory (ENOTDIR): JDK 17 reports it this way, later JDKs as
      // NoSuchFileException. Treat it as missing either way; the operation will fail.
      if (!Files.isDirectory(p.getParent())) {
        return false;
      }
      throw e;
    }
  }

  private static void checkNotBlocked(Path p) throws PathRefusedException {
    for (Map.Entry<Path, String> blocked : BLOCKED_PATHS.entrySet()) {
      if (p.startsWith(blocked.getKey())) {
        throw new PathRefusedException("Cannot access system path: " + blocked.getValue());
      }
    }
  }
}
