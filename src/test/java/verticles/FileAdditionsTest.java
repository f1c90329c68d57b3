package verticles;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import support.SharedAgent;

/**
 * The file additions of protocol.md 2.4 against a real agent process: chunked reads, append and
 * mode, atomic replace, stat, list_dir, recursive remove, rename, and the path rule on every path,
 * including trees that hold a blocked path.
 */
class FileAdditionsTest {
  private static final int MAX_FRAME = 10 * 1024 * 1024;

  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  @TempDir
  Path tmp;

  // ---------------------------------------------------------------- read_file chunks

  @Test
  void twelveMebibyteFileIsRefusedWholeAndReadBackExactlyInChunks() throws Exception {
    byte[] data = new byte[12 * 1024 * 1024];
    new Random(42).nextBytes(data);
    Path f = tmp.resolve("big.bin");
    // Written through the agent: a first write, then appends, each well under a frame.
    int piece = 3 * 1024 * 1024;
    try (AgentConnection c = AgentConnection.open(agent.tcp())) {
      for (int off = 0; off < data.length; off += piece) {
        JsonObject w = req("w" + off, "write_file", f).put("content_base64",
            Base64.getEncoder().encodeToString(java.util.Arrays.copyOfRange(data, off,
                off + piece)));
        if (off > 0) {
          w.put("append", true);
        }
        assertEquals(ok("w" + off), c.call(w));
      }
      assertArrayEquals(data, Files.readAllBytes(f));

      JsonObject whole = c.call(req("r", "read_file", f));
      assertEquals(new JsonObject().put("id", "r").put("error", "File too large: "
          + data.length + " bytes (read it in chunks with offset/length)"), whole);

      ByteArrayOutputStream back = new ByteArrayOutputStream();
      int chunk = 4 * 1024 * 1024 + 7;
      long offset = 0;
      while (true) {
        JsonObject r = c.call(req("c" + offset, "read_file", f).put("offset", offset)
            .put("length", chunk));
        assertEquals(Set.of("id", "exit_code", "content_base64", "size", "eof"), r.fieldNames());
        assertEquals(data.length, r.getLong("size"));
        byte[] got = Base64.getDecoder().decode(r.getString("content_base64"));
        back.writeBytes(got);
        offset += got.length;
        assertEquals(offset >= data.length, r.getBoolean("eof"));
        if (r.getBoolean("eof")) {
          break;
        }
        assertEquals(chunk, got.length);
      }
      assertArrayEquals(data, back.toByteArray());

      // Without a length, a chunk is as long as fits one frame (the client refuses bigger ones).
      JsonObject most = c.call(req("m", "read_file", f).put("offset", 0));
      byte[] first = Base64.getDecoder().decode(most.getString("content_base64"));
      assertTrue(first.length > MAX_FRAME / 4 * 3 - 4096 && first.length < data.length,
          "chunk " + first.length);
      assertArrayEquals(java.util.Arrays.copyOf(data, first.length), first);
      assertEquals(false, most.getBoolean("eof"));
    }
  }

  @Test
  void chunkEdgesPastTheEndAndEmpty() throws Exception {
    Path f = tmp.resolve("small.txt");
    Files.writeString(f, "0123456789");
    assertEquals(ok("a").put("content_base64", b64("789")).put("size", 10).put("eof", true),
        call(req("a", "read_file", f).put("offset", 7).put("length", 100)));
    assertEquals(ok("b").put("content_base64", "").put("size", 10).put("eof", true),
        call(req("b", "read_file", f).put("offset", 50)));
    assertEquals(ok("c").put("content_base64", "").put("size", 10).put("eof", false),
        call(req("c", "read_file", f).put("offset", 2).put("length", 0)));
    assertEquals(ok("d").put("content_base64", b64("01")).put("size", 10).put("eof", false),
        call(req("d", "read_file", f).put("length", 2)));
    // A whole read keeps the reference shape.
    assertEquals(ok("e").put("content_base64", b64("0123456789")),
        call(req("e", "read_file", f)));
    JsonObject dir = call(req("g", "read_file", tmp).put("offset", 0));
    assertTrue(dir.getString("error").startsWith("Failed to read file: "), dir.encode());
  }

  // ---------------------------------------------------------------- write_file

  @Test
  void appendAddsToTheEndAndCreatesTheFile() throws Exception {
    Path f = tmp.resolve("sub/log.txt");
    assertEquals(ok("1"), call(req("1", "write_file", f).put("content_base64", b64("one\n"))
        .put("append", true).put("mode", 0600)));
    assertEquals(ok("2"), call(req("2", "write_file", f).put("content_base64", b64("two\n"))
        .put("append", true)));
    assertEquals("one\ntwo\n", Files.readString(f));
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
  }

  @Test
  void plainWriteReplacesThroughATempFileAndKeepsTheMode() throws Exception {
    Path f = tmp.resolve("conf.txt");
    Files.writeString(f, "old");
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxr-x---"));
    Path link = tmp.resolve("hardlink");
    Files.createLink(link, f);
    Object inode = Files.getAttribute(f, "unix:ino");

    assertEquals(ok("w"), call(req("w", "write_file", f).put("content_base64", b64("new"))));
    assertEquals("new", Files.readString(f));
    // A new file was renamed over the name: the old inode (still linked) kept the old bytes.
    assertFalse(inode.equals(Files.getAttribute(f, "unix:ino")));
    assertEquals("old", Files.readString(link));
    assertEquals("rwxr-x---", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    try (Stream<Path> s = Files.list(tmp)) {
      assertEquals(Set.of("conf.txt", "hardlink"),
          s.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet()));
    }

    // An explicit mode wins.
    assertEquals(ok("m"), call(req("m", "write_file", f).put("content_base64", b64("x"))
        .put("mode", 0644)));
    assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    JsonObject d = call(req("d", "write_file", tmp).put("content_base64", b64("x")));
    assertTrue(d.getString("error").startsWith("Failed to write file: "), d.encode());
  }

  @Test
  void replacingASetIdFileOfAnotherOwnerDropsTheSetIdBits() throws Exception {
    Path f = tmp.resolve("tool");
    Files.writeString(f, "old");
    Files.setOwner(f, f.getFileSystem().getUserPrincipalLookupService()
        .lookupPrincipalByName("nobody"));
    // chown clears the set-ID bits, so they are set after it.
    Files.setAttribute(f, "unix:mode", 06755);
    assertEquals(ok("w"), call(req("w", "write_file", f).put("content_base64", b64("new"))));
    assertEquals(0755, (int) Files.getAttribute(f, "unix:mode") & 07777);
    // Asked for explicitly, a mode is what the host says.
    assertEquals(ok("m"), call(req("m", "write_file", f).put("content_base64", b64("x"))
        .put("mode", 04755)));
    assertEquals(04755, (int) Files.getAttribute(f, "unix:mode") & 07777);
  }

  @Test
  void aNameOfUpTo255BytesIsWrittenNewAndReplaced() throws Exception {
    for (String name : List.of("n".repeat(200), "n".repeat(201), "n".repeat(255),
        "\u00e9".repeat(127))) {
      Path f = tmp.resolve(name);
      assertEquals(ok("w"), call(req("w", "write_file", f).put("content_base64", b64("one"))));
      assertEquals(ok("r"), call(req("r", "write_file", f).put("content_base64", b64("two"))));
      assertEquals("two", Files.readString(f));
      Files.delete(f);
    }
    try (Stream<Path> s = Files.list(tmp)) {
      assertEquals(0, s.count(), "no temporary file left");
    }
  }

  // ---------------------------------------------------------------- stat and list_dir

  @Test
  void statDescribesWithoutFollowingAFinalLink() throws Exception {
    Path f = tmp.resolve("f.txt");
    Files.writeString(f, "12345");
    Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r-----"));
    Path link = tmp.resolve("l");
    Files.createSymbolicLink(link, f);

    JsonObject s = call(req("s", "stat", f));
    assertEquals(Set.of("id", "exit_code", "stat"), s.fieldNames());
    assertEquals(new JsonObject().put("type", "file").put("size", 5).put("mode", 0640)
        .put("mtime_ms", Files.getLastModifiedTime(f).toMillis()), s.getJsonObject("stat"));

    JsonObject l = call(req("l", "stat", link)).getJsonObject("stat");
    assertEquals("symlink", l.getString("type"));
    assertEquals(f.toString().length(), l.getLong("size"));

    JsonObject d = call(req("d", "stat", tmp)).getJsonObject("stat");
    assertEquals("dir", d.getString("type"));

    JsonObject missing = call(req("x", "stat", tmp.resolve("nope")));
    assertTrue(missing.getString("error").startsWith("Failed to stat file: "), missing.encode());
  }

  @Test
  void listDirGivesEveryEntryWithLinksAsLinks() throws Exception {
    Path dir = Files.createDirectory(tmp.resolve("d"));
    Files.writeString(dir.resolve("b.txt"), "abc");
    Files.createDirectory(dir.resolve("a"));
    Files.createSymbolicLink(dir.resolve("c"), Path.of("/etc"));

    JsonObject r = call(req("ls", "list_dir", dir));
    assertEquals(Set.of("id", "exit_code", "entries"), r.fieldNames());
    JsonArray entries = r.getJsonArray("entries");
    List<String> names = new ArrayList<>();
    for (int i = 0; i < entries.size(); i++) {
      JsonObject e = entries.getJsonObject(i);
      assertEquals(Set.of("name", "type", "size", "mode", "mtime_ms"), e.fieldNames());
      names.add(e.getString("name") + ":" + e.getString("type"));
    }
    assertEquals(List.of("a:dir", "b.txt:file", "c:symlink"), names);
    JsonObject b = entries.getJsonObject(1);
    assertEquals(3, b.getLong("size"));
    assertEquals(Files.getLastModifiedTime(dir.resolve("b.txt")).toMillis(),
        b.getLong("mtime_ms"));
    assertEquals((int) Files.getAttribute(dir.resolve("b.txt"), "unix:mode") & 07777,
        b.getInteger("mode"));

    JsonObject notDir = call(req("x", "list_dir", dir.resolve("b.txt")));
    assertTrue(notDir.getString("error").startsWith("Failed to list directory: "),
        notDir.encode());
  }

  // ---------------------------------------------------------------- remove_file

  @Test
  void recursiveRemoveDeletesATreeButNotWhatItsLinksPointAt() throws Exception {
    Path outside = Files.writeString(tmp.resolve("keep.txt"), "keep");
    Path tree = tmp.resolve("tree");
    Files.createDirectories(tree.resolve("x/y/z"));
    Files.writeString(tree.resolve("x/y/z/f"), "f");
    Files.writeString(tree.resolve("top"), "t");
    Files.createSymbolicLink(tree.resolve("x/link"), outside);
    Files.createSymbolicLink(tree.resolve("x/dirlink"), tmp);

    JsonObject plain = call(req("p", "remove_file", tree));
    assertTrue(plain.getString("error").startsWith("Failed to remove file: "), plain.encode());
    assertTrue(Files.exists(tree.resolve("x/y/z/f")));

    assertEquals(ok("r"), call(req("r", "remove_file", tree).put("recursive", true)));
    assertFalse(Files.exists(tree, LinkOption.NOFOLLOW_LINKS));
    assertEquals("keep", Files.readString(outside));

    // A plain file needs no flag; a missing one is an error.
    assertEquals(ok("f"), call(req("f", "remove_file", outside)));
    JsonObject gone = call(req("g", "remove_file", outside));
    assertTrue(gone.getString("error").startsWith("Failed to remove file: "), gone.encode());
  }

  @Test
  void aTreeDeeperThanTheLimitIsRefusedAndTheAgentGoesOn() throws Exception {
    Path tree = tmp.resolve("deep");
    Path leaf = tree;
    for (int i = 0; i < 600; i++) {
      leaf = leaf.resolve("d");
    }
    Files.createDirectories(leaf);
    JsonObject deep = call(req("d", "remove_file", tree).put("recursive", true));
    assertEquals("Failed to remove file: Tree deeper than 512 levels", deep.getString("error")
        .replaceFirst(": /.*", ""), deep.encode());
    assertTrue(Files.isDirectory(leaf));
    // The agent still serves file requests, and a tree within the limit is removed.
    Path within = leaf.getParent().getParent();
    for (int i = 0; i < 100; i++) {
      within = within.getParent();
    }
    assertEquals(ok("w"), call(req("w", "remove_file", within).put("recursive", true)));
    assertFalse(Files.exists(within));
  }

  @Test
  void aPathEndingInASlashNamesADirectoryOrNothing() throws Exception {
    Path f = Files.writeString(tmp.resolve("f"), "keep");
    Path dir = Files.createDirectory(tmp.resolve("dir"));
    Path link = Files.createSymbolicLink(tmp.resolve("link"), dir);
    for (String tail : List.of("/", "/.", "/./", "//")) {
      String fs = f + tail;
      String why = "Not a directory";
      assertTrue(call(req("r", "read_file", f).put("path", fs)).getString("error")
          .startsWith("Failed to read file: " + why), fs);
      assertTrue(call(req("s", "stat", f).put("path", fs)).getString("error")
          .startsWith("Failed to stat file: " + why), fs);
      assertTrue(call(req("d", "remove_file", f).put("path", fs)).getString("error")
          .startsWith("Failed to remove file: " + why), fs);
      assertTrue(call(req("w", "write_file", f).put("path", fs).put("content_base64", b64("x")))
          .getString("error").startsWith("Failed to write file: " + why), fs);
      assertTrue(call(req("m", "rename", f).put("path", fs).put("new_path", tmp + "/g"))
          .getString("error").startsWith("Failed to rename file: " + why), fs);
      assertTrue(call(req("n", "rename", f).put("new_path", tmp + "/g" + tail))
          .getString("error").startsWith("Failed to rename file: " + why), fs);
      // A final link is followed by stat, as stat(2) follows "link/", and is not removed.
      JsonObject viaLink = call(req("l", "stat", link).put("path", link + tail));
      assertEquals("dir", viaLink.getJsonObject("stat", new JsonObject())
          .getString("type"), viaLink::encode);
      assertTrue(call(req("u", "remove_file", link).put("path", link + tail))
          .getString("error").startsWith("Failed to remove file: " + why), tail);
      assertTrue(call(req("n", "write_file", f).put("path", tmp + "/new" + tail)
          .put("content_base64", b64("x"))).getString("error")
          .startsWith("Failed to write file: Is a directory"), tail);
    }
    assertEquals("keep", Files.readString(f));
    assertTrue(Files.isSymbolicLink(link) && Files.isDirectory(dir));
    assertFalse(Files.exists(tmp.resolve("g")) || Files.exists(tmp.resolve("new")));
    assertEquals(ok("k"), call(req("k", "mkdir", dir).put("path", tmp + "/made/")));
    assertTrue(Files.isDirectory(tmp.resolve("made")));
  }

  // ---------------------------------------------------------------- rename

  @Test
  void renameMovesFilesAndDirectories() throws Exception {
    Path a = Files.writeString(tmp.resolve("a"), "A");
    assertEquals(ok("1"), call(req("1", "rename", a).put("new_path", tmp.resolve("b").toString())));
    assertFalse(Files.exists(a));
    assertEquals("A", Files.readString(tmp.resolve("b")));

    Path dir = Files.createDirectories(tmp.resolve("d1/inner"));
    Files.writeString(dir.resolve("f"), "F");
    assertEquals(ok("2"), call(req("2", "rename", tmp.resolve("d1"))
        .put("new_path", tmp.resolve("d2").toString())));
    assertEquals("F", Files.readString(tmp.resolve("d2/inner/f")));

    // A link is moved itself, not its target.
    Path link = Files.createSymbolicLink(tmp.resolve("ln"), tmp.resolve("b"));
    assertEquals(ok("3"), call(req("3", "rename", link)
        .put("new_path", tmp.resolve("ln2").toString())));
    assertTrue(Files.isSymbolicLink(tmp.resolve("ln2")));
    assertEquals("A", Files.readString(tmp.resolve("b")));

    assertEquals(new JsonObject().put("id", "4").put("error", "No new_path specified"),
        call(req("4", "rename", tmp.resolve("b"))));
    JsonObject missing = call(req("5", "rename", tmp.resolve("nope"))
        .put("new_path", tmp.resolve("x").toString()));
    assertTrue(missing.getString("error").startsWith("Failed to rename file: "),
        missing.encode());
  }

  @Test
  void everyPathOfARenameGoesThroughThePathRule() throws Exception {
    Path f = Files.writeString(tmp.resolve("f"), "F");
    assertEquals(refused("1", "/proc"),
        call(req("1", "rename", f).put("new_path", "/proc/x")));
    assertEquals(refused("2", "/proc"),
        call(req("2", "rename", Path.of("/proc/self/status")).put("new_path",
            tmp.resolve("s").toString())));
    assertEquals(new JsonObject().put("id", "3").put("error", "Path must be absolute"),
        call(req("3", "rename", f).put("new_path", "relative")));
    assertEquals(new JsonObject().put("id", "4").put("error", "Path traversal not allowed"),
        call(req("4", "rename", f).put("new_path", tmp + "/../x")));
    // Through a link into a blocked tree.
    Files.createSymbolicLink(tmp.resolve("sys"), Path.of("/sys"));
    assertEquals(refused("5", "/sys"),
        call(req("5", "rename", f).put("new_path", tmp.resolve("sys/x").toString())));
    assertEquals(refused("6", "/etc/shadow"),
        call(req("6", "rename", f).put("new_path", "//etc/./shadow")));
    assertEquals("F", Files.readString(f));
  }

  @Test
  void renameOfADirectoryHoldingABlockedPathIsRefused() throws Exception {
    // Were the rule missing, the kernel itself would refuse these (a directory cannot move into
    // itself, the root cannot move), so the test cannot damage the machine.
    assertEquals(refused("1", "/etc/passwd"),
        call(req("1", "rename", Path.of("/etc")).put("new_path", "/etc/agent-test-moved")));
    assertEquals(refused("2", "/etc/passwd"),
        call(req("2", "rename", Path.of("/etc")).put("path", "//etc/./")
            .put("new_path", "/etc/agent-test-moved")));
    assertEquals(refused("3", "/proc"),
        call(req("3", "rename", Path.of("/")).put("new_path", "/agent-test-moved")));
    assertTrue(Files.exists(Path.of("/etc/passwd")));
    // Renaming a link to such a directory moves only the link.
    Path link = Files.createSymbolicLink(tmp.resolve("etc-link"), Path.of("/etc"));
    assertEquals(ok("4"), call(req("4", "rename", link)
        .put("new_path", tmp.resolve("etc-link2").toString())));
    assertTrue(Files.isSymbolicLink(tmp.resolve("etc-link2")));
  }

  /**
   * A recursive remove of {@code /} or {@code /etc} is sent to a second agent that runs as an
   * unprivileged user (able to read its class path, not to delete system files): it must be
   * refused by the rule, and were the rule ever missing, the operating system would still stop
   * the removal.
   */
  @Test
  void recursiveRemoveOfATreeHoldingABlockedPathIsRefused() throws Exception {
    try (Unprivileged nobody = Unprivileged.start(tmp)) {
      try (AgentConnection c = AgentConnection.open(nobody.tcp)) {
        assertEquals(refused("1", "/etc/passwd"),
            c.call(req("1", "remove_file", Path.of("/etc")).put("recursive", true)));
        assertEquals(refused("2", "/proc"),
            c.call(req("2", "remove_file", Path.of("/")).put("recursive", true)));
        assertEquals(refused("3", "/etc/passwd"),
            c.call(req("3", "remove_file", Path.of("/etc/.")).put("recursive", true)));
        // A link to /etc inside a tree is removed as a link.
        Path tree = tmp.resolve("t");
        Files.createDirectories(tree);
        Files.createSymbolicLink(tree.resolve("etc"), Path.of("/etc"));
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.setPosixFilePermissions(tree, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertEquals(ok("4"), c.call(req("4", "remove_file", tree).put("recursive", true)));
        assertFalse(Files.exists(tree, LinkOption.NOFOLLOW_LINKS));
      }
    }
    assertTrue(Files.exists(Path.of("/etc/passwd")));
  }

  // ---------------------------------------------------------------- helpers

  private static JsonObject req(String id, String type, Path path) {
    return new JsonObject().put("id", id).put("type", type).put("path", path.toString());
  }

  private static JsonObject ok(String id) {
    return new JsonObject().put("id", id).put("exit_code", 0);
  }

  private static JsonObject refused(String id, String prefix) {
    return new JsonObject().put("id", id).put("error", "Cannot access system path: " + prefix);
  }

  private static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  private static JsonObject call(JsonObject request) throws IOException {
    try (AgentConnection c = AgentConnection.open(agent.tcp())) {
      return c.call(request);
    }
  }

  /** An agent run as user nobody, keeping only the right to read and search any file. */
  private static final class Unprivileged implements AutoCloseable {
    private static final Pattern LISTENING = Pattern.compile("listening address=(tcp://\\S+)");
    final Process process;
    final String tcp;

    private Unprivileged(Process process, String tcp) {
      this.process = process;
      this.tcp = tcp;
    }

    static Unprivileged start(Path dir) throws Exception {
      List<String> cmd = new ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534",
          "--clear-groups", "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search",
          Path.of(System.getProperty("java.home"), "bin", "java").toString(),
          "-XX:-UsePerfData", "-Xss512k", "-cp", classPath(), "verticles.Main",
          "--listen", "tcp://127.0.0.1:0"));
      Process p = new ProcessBuilder(cmd).directory(dir.toFile())
          .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
      CompletableFuture<String> address = new CompletableFuture<>();
      List<String> log = new java.util.concurrent.CopyOnWriteArrayList<>();
      Thread t = new Thread(() -> {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getErrorStream(),
            StandardCharsets.UTF_8))) {
          String line;
          String tcp = null;
          while ((line = r.readLine()) != null) {
            log.add(line);
            Matcher m = LISTENING.matcher(line);
            if (m.find()) {
              tcp = m.group(1);
            }
            if (line.contains(" ready ") && tcp != null) {
              address.complete(tcp);
            }
          }
        } catch (IOException e) {
          // Gone.
        }
        address.completeExceptionally(new IllegalStateException("agent exited: " + log));
      }, "nobody-agent-log");
      t.setDaemon(true);
      t.start();
      return new Unprivileged(p, address.get(30, TimeUnit.SECONDS));
    }

    private static String classPath() {
      String cp = System.getProperty("surefire.test.class.path");
      return cp != null && !cp.isBlank() ? cp : System.getProperty("java.class.path");
    }

    @Override
    public void close() throws Exception {
      process.destroy();
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    }
  }
}
