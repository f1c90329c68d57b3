package files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import files.PathPolicy.Mode;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Random paths made of slashes, dots, names, blocked names and symbolic links (set up in a temp
 * dir) are fed to {@link PathPolicy#resolve} in both modes. No accepted path may name a blocked
 * location, and where an independent reference built on {@link Path#toRealPath} can tell what the
 * path names, the outcome must match it. The seed is fixed and printed in every failure message;
 * override it with {@code -Dpathpolicy.seed=N}.
 */
class PathPolicyPropertyTest {

  static final long SEED = Long.getLong("pathpolicy.seed", 20240917L);
  static final int RANDOM_CASES = 10_000;
  static final int CLEAN_CASES = 5_000;

  static final List<String> BLOCKED = List.of("/proc", "/sys", "/dev", "/etc/passwd",
      "/etc/shadow", "/etc/passwd-", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-");

  /** Components for random paths: names in the temp dir, links, blocked names, dots. */
  static final List<String> TOKENS = List.of(
      "a", "b", "sub", "f.txt", "new", "x", "a..b", "...", "..", ".", "",
      "proc", "sys", "dev", "etc", "passwd", "shadow", "self", "1", "environ", "kernel", "null",
      "processes", "system", "devices", "passwd-", "root", "cwd",
      "lproc", "lsys", "ldev", "letc", "lshadow", "lpasswd", "lroot", "lself", "lother",
      "la", "up", "back", "lrelproc", "ldang", "ldang2", "lloop", "lchain", "lsyskern");

  /** Starts of paths that must be accepted besides the temp dir: look-alikes of blocked paths. */
  static final List<String> CLEAN_STARTS = List.of(
      "/processes", "/proc_x", "/system", "/devices", "/dev-x", "/etcx/shadow", "/etc/passwdx",
      "/etc/shadowx");

  /** Components for paths that must be accepted: no links, no "..". */
  static final List<String> CLEAN_TOKENS = List.of(
      "a", "b", "sub", "new", "x", "a..b", "...", ".", "", "proc", "sys", "dev", "etc",
      "passwd", "shadow", "processes", "system", "devices", "passwd-");

  @TempDir
  Path tempDir;

  @TempDir
  Path otherDir;

  Path tmp;
  Path other;

  @BeforeEach
  void setUp() throws IOException {
    tmp = tempDir.toRealPath();
    other = otherDir.toRealPath();
    Files.createDirectories(tmp.resolve("a/sub"));
    Files.createDirectories(tmp.resolve("b"));
    Files.writeString(tmp.resolve("a/f.txt"), "x");
    link("lproc", "/proc");
    link("lsys", "/sys");
    link("ldev", "/dev");
    link("letc", "/etc");
    link("lshadow", "/etc/shadow");
    link("lpasswd", "/etc/passwd");
    link("lroot", "/");
    link("lself", "/proc/self");
    link("lother", other.toString());
    link("la", "a");
    link("a/up", "..");
    link("lrelproc", tmp.relativize(Path.of("/proc")).toString());
    link("ldang", "/proc/no-such-pid/x");
    link("ldang2", "missing/new");
    link("lloop", "lloop");
    link("lchain", "lself");
    Files.createSymbolicLink(other.resolve("back"), tmp);
    Files.createSymbolicLink(other.resolve("lsyskern"), Path.of("/sys/kernel"));
  }

  private void link(String name, String target) throws IOException {
    Files.createSymbolicLink(tmp.resolve(name), Path.of(target));
  }

  @Test
  void randomPathsNeverResolveIntoBlockedLocations() {
    Random random = new Random(SEED);
    Map<String, Integer> outcomes = new TreeMap<>();
    for (int i = 0; i < RANDOM_CASES; i++) {
      String path = randomPath(random);
      for (Mode mode : Mode.values()) {
        String where = "seed=" + SEED + " case=" + i + " mode=" + mode + " path=" + path
            + " (tmp=" + tmp + ", other=" + other + ")";
        outcomes.merge(check(path, mode, where), 1, Integer::sum);
      }
    }
    // Guard against a generator that stopped exercising the interesting branches.
    String stats = "seed=" + SEED + " outcomes=" + outcomes;
    for (String kind : List.of("accepted", "absolute", "traversal", "blocked-lexical",
        "blocked-resolved", "io-error")) {
      assertTrue(outcomes.getOrDefault(kind, 0) >= 100, stats);
    }
  }

  @Test
  void cleanPathsAreAccepted() throws Exception {
    Random random = new Random(SEED);
    for (int i = 0; i < CLEAN_CASES; i++) {
      String start = random.nextInt(4) == 0
          ? CLEAN_STARTS.get(random.nextInt(CLEAN_STARTS.size())) : tmp.toString();
      StringBuilder sb = new StringBuilder(slashes(random, start));
      StringBuilder expected = new StringBuilder(start);
      int n = random.nextInt(6);
      for (int k = 0; k < n; k++) {
        String token = CLEAN_TOKENS.get(random.nextInt(CLEAN_TOKENS.size()));
        sb.append(random.nextInt(4) == 0 ? "//" : "/").append(token);
        if (!token.isEmpty() && !token.equals(".")) {
          expected.append('/').append(token);
        }
      }
      if (random.nextBoolean()) {
        sb.append('/');
      }
      for (Mode mode : Mode.values()) {
        String where = "seed=" + SEED + " case=" + i + " mode=" + mode + " path=" + sb;
        try {
          assertEquals(Path.of(expected.toString()), PathPolicy.resolve(sb.toString(), mode),
              where);
        } catch (PathRefusedException | IOException e) {
          fail(where + " refused: " + e, e);
        }
      }
    }
  }

  /** Runs one case and returns the kind of outcome; fails with {@code where} on a violation. */
  private String check(String path, Mode mode, String where) {
    Path result;
    try {
      result = PathPolicy.resolve(path, mode);
    } catch (PathRefusedException e) {
      return checkRefusal(path, mode, e.getMessage(), where);
    } catch (IOException e) {
      // A link loop, or a link that may not be read (e.g. /proc/1/cwd, even for root).
      assertTrue(e instanceof AccessDeniedException
          || e.getMessage().equals("Too many levels of symbolic links"), where + " " + e);
      return "io-error";
    }
    assertTrue(path.startsWith("/"), where + " accepted a relative path");
    assertFalse(hasDotDot(path), where + " accepted ..");
    assertTrue(result.isAbsolute(), where + " result not absolute: " + result);
    assertEquals(null, blockedPrefix(result), where + " returned blocked " + result);
    // Every link is followed, so none is left in the result but a final one in NOFOLLOW.
    Path prefix = result.getRoot();
    for (int k = 0; k < result.getNameCount(); k++) {
      prefix = prefix.resolve(result.getName(k));
      boolean last = k == result.getNameCount() - 1;
      assertTrue((last && mode == Mode.NOFOLLOW) || !Files.isSymbolicLink(prefix),
          where + " result " + result + " goes through link " + prefix);
    }
    try {
      if (mode == Mode.FOLLOW && Files.exists(result)) {
        Path real = result.toRealPath();
        assertEquals(null, blockedPrefix(real), where + " real path blocked " + real);
        assertEquals(real, result, where + " result is not a real path");
      }
      if (mode == Mode.NOFOLLOW && result.getParent() != null && Files.exists(result.getParent())) {
        assertEquals(result.getParent().toRealPath(), result.getParent(),
            where + " parent not real");
        if (Files.exists(result, LinkOption.NOFOLLOW_LINKS) && !Files.isSymbolicLink(result)) {
          assertEquals(null, blockedPrefix(result.toRealPath()), where + " real path blocked");
        }
      }
      Path reference = reference(path, mode);
      if (reference != null) {
        assertEquals(reference, result, where + " differs from reference");
      }
    } catch (IOException e) {
      fail(where + " checking result " + result + ": " + e, e);
    }
    return "accepted";
  }

  private String checkRefusal(String path, Mode mode, String message, String where) {
    if (!path.startsWith("/")) {
      assertEquals("Path must be absolute", message, where);
      return "absolute";
    }
    if (hasDotDot(path)) {
      assertEquals("Path traversal not allowed", message, where);
      return "traversal";
    }
    String lexicalPrefix = blockedPrefix(lexical(path));
    if (lexicalPrefix != null) {
      assertEquals("Cannot access system path: " + lexicalPrefix, message, where);
      return "blocked-lexical";
    }
    assertTrue(message.startsWith("Cannot access system path: ")
        && BLOCKED.contains(message.substring("Cannot access system path: ".length())),
        where + " bad message " + message);
    try {
      Path reference = reference(path, mode);
      if (reference != null) {
        // The walk refuses at the first blocked place it passes, even on its way elsewhere.
        String onTheWay = blockedOnTheWay(path, mode);
        assertEquals("Cannot access system path: "
            + (onTheWay != null ? onTheWay : blockedPrefix(reference)), message,
            where + " refused but reference is " + reference);
      }
    } catch (IOException e) {
      fail(where + " reference: " + e, e);
    }
    return "blocked-resolved";
  }

  // --- independent reference -----------------------------------------------------------------

  /**
   * What the path names, per the contract, computed with toRealPath on its deepest existing
   * ancestor; null when that is not decidable this way (a dangling link or a file in the tail).
   */
  private static Path reference(String path, Mode mode) throws IOException {
    Path lexical = lexical(path);
    if (mode == Mode.NOFOLLOW) {
      if (lexical.getParent() == null) {
        return lexical;
      }
      Path parent = referenceFollow(lexical.getParent());
      return parent == null ? null : parent.resolve(lexical.getFileName());
    }
    return referenceFollow(lexical);
  }

  private static Path referenceFollow(Path lexical) throws IOException {
    Deque<Path> rest = new ArrayDeque<>();
    Path p = lexical;
    while (!Files.exists(p)) {
      rest.push(p.getFileName());
      p = p.getParent();
    }
    Path result = p.toRealPath();
    if (!rest.isEmpty() && !Files.isDirectory(result)) {
      return null;
    }
    for (Path name : rest) {
      result = result.resolve(name);
      if (Files.isSymbolicLink(result) || Files.exists(result, LinkOption.NOFOLLOW_LINKS)) {
        return null;
      }
    }
    return result;
  }

  /**
   * The first blocked place that resolving the path passes through, one component at a time
   * with NIO (links read with readSymbolicLink), or null if none.
   */
  private static String blockedOnTheWay(String path, Mode mode) throws IOException {
    Deque<String> todo = new ArrayDeque<>(List.of(path.split("/")));
    Path root = Path.of("/");
    Path cur = root;
    int hops = 0;
    while (!todo.isEmpty()) {
      String name = todo.pop();
      if (name.isEmpty() || name.equals(".")) {
        continue;
      }
      if (name.equals("..")) {
        cur = cur.getParent() == null ? root : cur.getParent();
        continue;
      }
      Path next = cur.resolve(name);
      String blocked = blockedPrefix(next);
      if (blocked != null) {
        return blocked;
      }
      boolean last = todo.stream().allMatch(n -> n.isEmpty() || n.equals("."));
      if ((!last || mode == Mode.FOLLOW) && Files.isSymbolicLink(next)) {
        if (++hops > 40) {
          return null;
        }
        String target = Files.readSymbolicLink(next).toString();
        if (target.startsWith("/")) {
          cur = root;
        }
        String[] parts = target.split("/");
        for (int i = parts.length - 1; i >= 0; i--) {
          todo.push(parts[i]);
        }
      } else {
        cur = next;
      }
    }
    return null;
  }

  private static Path lexical(String path) {
    return Path.of(path).normalize();
  }

  private static boolean hasDotDot(String path) {
    return List.of(path.split("/")).contains("..");
  }

  private static String blockedPrefix(Path p) {
    for (String prefix : BLOCKED) {
      if (p.startsWith(Path.of(prefix))) {
        return prefix;
      }
    }
    return null;
  }

  // --- generators ----------------------------------------------------------------------------

  private String randomPath(Random random) {
    String start;
    switch (random.nextInt(10)) {
      case 0: start = ""; break;                       // relative
      case 1: case 2: start = "/"; break;
      case 3: start = slashes(random, other.toString()); break;
      case 4: start = BLOCKED.get(random.nextInt(BLOCKED.size())); break;
      default: start = slashes(random, tmp.toString());
    }
    StringBuilder sb = new StringBuilder(start);
    int n = random.nextInt(7);
    for (int k = 0; k < n; k++) {
      if (k > 0 || !start.isEmpty()) {
        sb.append(random.nextInt(4) == 0 ? "//" : "/");
      }
      // ".." is drawn rarely so that most paths get past the traversal check.
      String token;
      do {
        token = TOKENS.get(random.nextInt(TOKENS.size()));
      } while (token.equals("..") && random.nextInt(3) != 0);
      sb.append(token);
    }
    if (random.nextInt(5) == 0) {
      sb.append('/');
    }
    return sb.toString();
  }

  /** The absolute path {@code p} with some of its slashes doubled and some "/." inserted. */
  private static String slashes(Random random, String p) {
    StringBuilder sb = new StringBuilder();
    for (String name : p.substring(1).split("/")) {
      sb.append(random.nextInt(5) == 0 ? "//" : "/");
      if (random.nextInt(6) == 0) {
        sb.append("./");
      }
      sb.append(name);
    }
    return sb.toString();
  }
}
