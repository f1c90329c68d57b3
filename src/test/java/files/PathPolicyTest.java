package files;

import static files.PathPolicy.Mode.FOLLOW;
import static files.PathPolicy.Mode.NOFOLLOW;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import files.PathPolicy.Mode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

class PathPolicyTest {

  @TempDir
  Path tempDir;

  /** Real path of the temp dir, so expected results contain no links. */
  Path tmp;

  @BeforeEach
  void setUp() throws IOException {
    tmp = tempDir.toRealPath();
  }

  private static void assertRefused(String expectedMessage, String path, Mode mode) {
    PathRefusedException e =
        assertThrows(PathRefusedException.class, () -> PathPolicy.resolve(path, mode),
            () -> path + " (" + mode + ") should be refused");
    assertEquals(expectedMessage, e.getMessage(), path + " (" + mode + ")");
  }

  private static void assertRefusedBoth(String expectedMessage, String path) {
    assertRefused(expectedMessage, path, FOLLOW);
    assertRefused(expectedMessage, path, NOFOLLOW);
  }

  private static String system(String prefix) {
    return "Cannot access system path: " + prefix;
  }

  // --- absolute / traversal ---------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"", "tmp", "tmp/x", "./tmp", "../etc/shadow", "proc/1", " /tmp", "~/x"})
  void relativePathsAreRefused(String path) {
    assertRefusedBoth("Path must be absolute", path);
  }

  @Test
  void nullIsRefusedAsNotAbsolute() {
    assertRefusedBoth("Path must be absolute", null);
  }

  @ParameterizedTest
  @ValueSource(strings = {"/..", "/../", "/tmp/..", "/tmp/../etc/shadow", "/a/../b", "/a/b/../../c",
    "//..//tmp", "/tmp/./../x", "/proc/../tmp"})
  void dotDotComponentsAreRefused(String path) {
    assertRefusedBoth("Path traversal not allowed", path);
  }

  @ParameterizedTest
  @ValueSource(strings = {"a..b", "..y", "y..", "...", "....", "..."})
  void dotDotInsideNamesIsAllowed(String name) throws Exception {
    for (Mode mode : Mode.values()) {
      assertEquals(tmp.resolve(name), PathPolicy.resolve(tmp + "/" + name, mode));
      assertEquals(tmp.resolve("x").resolve(name),
          PathPolicy.resolve(tmp + "/x/" + name + "/", mode));
    }
  }

  @Test
  void nulCharacterIsRefused() {
    assertRefusedBoth("Invalid path", "/tmp/a\0b");
  }

  // --- blocked prefixes and look-alikes -----------------------------------------------------

  @ParameterizedTest
  @CsvSource({
    "/proc, /proc", "/proc/, /proc", "/proc/1/environ, /proc", "/proc/self/environ, /proc",
    "/proc/does/not/exist, /proc", "/sys, /sys", "/sys/kernel, /sys", "/dev, /dev",
    "/dev/null, /dev", "/dev/new-file, /dev", "/etc/passwd, /etc/passwd",
    "/etc/shadow, /etc/shadow", "/etc/shadow/x, /etc/shadow", "/etc/passwd-, /etc/passwd-",
    "/etc/shadow-, /etc/shadow-", "/etc/gshadow, /etc/gshadow", "/etc/gshadow-, /etc/gshadow-"})
  void systemPathsAreRefused(String path, String prefix) {
    assertRefusedBoth(system(prefix), path);
  }

  @ParameterizedTest
  @ValueSource(strings = {"/processes", "/proc_x", "/process/1", "/system", "/sysx", "/devices",
    "/dev-null", "/devx/y", "/etc/passwd.bak", "/etc/passwdx", "/etc/shadowx", "/etc/gshadowx",
    "/etcx/shadow", "/etcx/passwd", "/x/proc", "/x/etc/shadow", "/etc"})
  void lookAlikesAreAllowed(String path) throws Exception {
    for (Mode mode : Mode.values()) {
      assertEquals(Path.of(path), PathPolicy.resolve(path, mode), path + " " + mode);
    }
  }

  @ParameterizedTest
  @CsvSource({
    "//etc/shadow, /etc/shadow", "/etc/./shadow, /etc/shadow", "/etc//passwd, /etc/passwd",
    "/./proc, /proc", "///proc/1, /proc", "/proc/./self, /proc", "/etc/shadow/, /etc/shadow",
    "/./etc/././passwd/., /etc/passwd", "/dev/., /dev", "//sys//, /sys", "/.//dev//null, /dev"})
  void normalisationBypassesAreRefused(String path, String prefix) {
    assertRefusedBoth(system(prefix), path);
  }

  @ParameterizedTest
  @EnumSource(Mode.class)
  void rootIsAllowed(Mode mode) throws Exception {
    assertEquals(Path.of("/"), PathPolicy.resolve("/", mode));
    assertEquals(Path.of("/"), PathPolicy.resolve("//./", mode));
  }

  @Test
  void blockedListIsTheContract() {
    assertEquals(List.of("/proc", "/sys", "/dev", "/etc/passwd", "/etc/shadow", "/etc/passwd-",
        "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-"), PathPolicy.BLOCKED);
  }

  // --- symbolic links ----------------------------------------------------------------------

  @Test
  void linkIntoProcIsRefusedWhenFollowed() throws Exception {
    Files.createSymbolicLink(tmp.resolve("x"), Path.of("/proc/self"));
    assertRefusedBoth(system("/proc"), tmp + "/x/environ");
    assertRefusedBoth(system("/proc"), tmp + "/x/new-file");
    assertRefused(system("/proc"), tmp + "/x", FOLLOW);
    assertRefused(system("/proc"), tmp + "/x/", FOLLOW);
  }

  @Test
  void nofollowActsOnTheLinkItself() throws Exception {
    Path link = Files.createSymbolicLink(tmp.resolve("l"), Path.of("/proc/self"));
    // Removing or stat-ing the link is fine; going through it is not.
    assertEquals(link, PathPolicy.resolve(link.toString(), NOFOLLOW));
    assertEquals(link, PathPolicy.resolve(tmp + "//./l", NOFOLLOW));
    assertRefused(system("/proc"), "/proc/self", NOFOLLOW);
    assertRefused(system("/proc"), tmp + "/l/cwd", NOFOLLOW);
  }

  @Test
  void linkToShadowIsRefusedWhenFollowed() throws Exception {
    Path link = Files.createSymbolicLink(tmp.resolve("l"), Path.of("/etc/shadow"));
    assertRefused(system("/etc/shadow"), link.toString(), FOLLOW);
    assertEquals(link, PathPolicy.resolve(link.toString(), NOFOLLOW));
  }

  @Test
  void relativeLinkIntoDevIsRefused() throws Exception {
    Path link = Files.createSymbolicLink(tmp.resolve("rel"), tmp.relativize(Path.of("/dev")));
    assertRefusedBoth(system("/dev"), link + "/null");
    assertRefused(system("/dev"), link.toString(), FOLLOW);
  }

  @Test
  void directoryLinkToRootIsResolved() throws Exception {
    Files.createSymbolicLink(tmp.resolve("d"), Path.of("/"));
    String d = tmp + "/d";
    assertRefusedBoth(system("/proc"), d + "/proc/1");
    assertRefusedBoth(system("/proc"), d + "/proc");
    assertRefusedBoth(system("/sys"), d + "//sys/./kernel");
    assertRefusedBoth(system("/etc/shadow"), d + "/etc/shadow");
    assertRefusedBoth(system("/dev"), d + "/dev/not-yet");
    assertEquals(tmp, PathPolicy.resolve(d + tmp, FOLLOW));
    assertEquals(Path.of("/etc/passwd.bak"), PathPolicy.resolve(d + "/etc/passwd.bak", NOFOLLOW));
    assertEquals(Path.of("/"), PathPolicy.resolve(d, FOLLOW));
  }

  @Test
  void chainOfLinksIsFollowed() throws Exception {
    Files.createSymbolicLink(tmp.resolve("c3"), Path.of("/proc/self"));
    Files.createSymbolicLink(tmp.resolve("c2"), Path.of("c3"));
    Files.createSymbolicLink(tmp.resolve("c1"), tmp.resolve("c2"));
    assertRefused(system("/proc"), tmp + "/c1", FOLLOW);
    assertRefusedBoth(system("/proc"), tmp + "/c1/status");
    assertEquals(tmp.resolve("c1"), PathPolicy.resolve(tmp + "/c1", NOFOLLOW));
  }

  @Test
  void linkThroughProcIsRefusedEvenWhenItLeadsBackOut() throws Exception {
    // /proc/self/root is a link to "/", so this would name /tmp/...; but the walk never opens
    // anything in /proc, not even on its way somewhere allowed.
    Files.createSymbolicLink(tmp.resolve("r"), Path.of("/proc/self/root"));
    assertRefusedBoth(system("/proc"), tmp + "/r" + tmp);
    assertRefusedBoth(system("/proc"), tmp + "/r/etc/passwd");
  }

  @Test
  void danglingLinkIntoProcIsRefused() throws Exception {
    Path link = Files.createSymbolicLink(tmp.resolve("dl"), Path.of("/proc/no-such-pid/x"));
    assertRefused(system("/proc"), link.toString(), FOLLOW);
    assertRefusedBoth(system("/proc"), link + "/child");
    assertEquals(link, PathPolicy.resolve(link.toString(), NOFOLLOW));

    // Out of something missing there is no way back: the link names nothing, under /sys or not.
    Path viaDotDot = Files.createSymbolicLink(tmp.resolve("dl2"), Path.of("/missing/../sys/new"));
    assertThrows(java.nio.file.NoSuchFileException.class,
        () -> PathPolicy.resolve(viaDotDot.toString(), FOLLOW));
    Files.writeString(tmp.resolve("there"), "t");
    Path pastMissing = Files.createSymbolicLink(tmp.resolve("dl3"), Path.of("missing/../there"));
    assertThrows(java.nio.file.NoSuchFileException.class,
        () -> PathPolicy.resolve(pastMissing.toString(), FOLLOW));
    Path pastFile = Files.createSymbolicLink(tmp.resolve("dl4"), Path.of("there/../there"));
    assertThrows(java.nio.file.NotDirectoryException.class,
        () -> PathPolicy.resolve(pastFile.toString(), FOLLOW));
  }

  @Test
  void aLinkWhoseTargetIsNotUtf8IsAnErrorNotAnotherFile() throws Exception {
    // The file a lenient decoding of the target would reach instead.
    Files.writeString(tmp.resolve("x\ufffd"), "decoy");
    Process ln = new ProcessBuilder("sh", "-c", "ln -s \"$(printf 'x\\377')\" bad",
        tmp.toString()).directory(tmp.toFile()).inheritIO().start();
    assertEquals(0, ln.waitFor());
    IOException e = assertThrows(IOException.class,
        () -> PathPolicy.resolve(tmp + "/bad", FOLLOW));
    assertEquals("Symbolic link's target is not valid UTF-8", ((java.nio.file.FileSystemException) e)
        .getReason());
  }

  @Test
  void danglingLinkInsideTempResolvesToItsTarget() throws Exception {
    Files.createDirectory(tmp.resolve("a"));
    Files.createSymbolicLink(tmp.resolve("a/dl"), Path.of("../b/new"));
    assertEquals(tmp.resolve("b/new"), PathPolicy.resolve(tmp + "/a/dl", FOLLOW));
    assertEquals(tmp.resolve("a/dl"), PathPolicy.resolve(tmp + "/a/dl", NOFOLLOW));
  }

  @Test
  void linkLoopIsAnIoError() throws Exception {
    Files.createSymbolicLink(tmp.resolve("loop1"), tmp.resolve("loop2"));
    Files.createSymbolicLink(tmp.resolve("loop2"), Path.of("loop1"));
    IOException e =
        assertThrows(IOException.class, () -> PathPolicy.resolve(tmp + "/loop1", FOLLOW));
    assertEquals("Too many levels of symbolic links", e.getMessage());
    assertThrows(IOException.class, () -> PathPolicy.resolve(tmp + "/loop1/x", NOFOLLOW));
    // Not followed, so no loop.
    assertEquals(tmp.resolve("loop1"), PathPolicy.resolve(tmp + "/loop1", NOFOLLOW));
  }

  // --- non-existing tails and real paths ---------------------------------------------------

  @ParameterizedTest
  @EnumSource(Mode.class)
  void nonExistingTailIsAppendedToRealAncestor(Mode mode) throws Exception {
    Files.createDirectories(tmp.resolve("a/sub"));
    Files.createSymbolicLink(tmp.resolve("la"), tmp.resolve("a"));
    assertEquals(tmp.resolve("new/x/y"), PathPolicy.resolve(tmp + "/new/x/y", mode));
    assertEquals(tmp.resolve("a/sub/new"), PathPolicy.resolve(tmp + "/la/sub/new", mode));
    assertEquals(tmp.resolve("a/new/file.txt"),
        PathPolicy.resolve(tmp + "/la//new/./file.txt", mode));
  }

  @Test
  void returnedPathsAreRealPaths() throws Exception {
    Files.createDirectories(tmp.resolve("a/sub"));
    Files.writeString(tmp.resolve("a/sub/f.txt"), "x");
    Files.createSymbolicLink(tmp.resolve("la"), tmp.resolve("a"));
    Files.createSymbolicLink(tmp.resolve("a/up"), Path.of(".."));
    Files.createSymbolicLink(tmp.resolve("lf"), Path.of("la/sub/f.txt"));
    for (String p : List.of("/la", "/la/sub", "/la/up/la/sub/f.txt", "/lf", "/a/up/a/up/lf")) {
      Path given = Path.of(tmp + p);
      Path resolved = PathPolicy.resolve(given.toString(), FOLLOW);
      assertEquals(given.toRealPath(), resolved, p);
      // NOFOLLOW: the parent is real, the final link itself is kept.
      Path nofollow = PathPolicy.resolve(given.toString(), NOFOLLOW);
      assertEquals(given.getParent().toRealPath(), nofollow.getParent(), p);
      assertEquals(given.getFileName(), nofollow.getFileName(), p);
    }
  }

  @ParameterizedTest
  @EnumSource(Mode.class)
  void fileUsedAsDirectoryIsLeftForTheOperationToFail(Mode mode) throws Exception {
    Files.writeString(tmp.resolve("f"), "x");
    assertEquals(tmp.resolve("f/x/y"), PathPolicy.resolve(tmp + "/f/x/y", mode));
    assertRefusedBoth(system("/etc/passwd"), "/etc/passwd/x");
  }
}
