package verticles;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ProtocolSupport.b64;
import static verticles.ProtocolSupport.error;
import static verticles.ProtocolSupport.ok;
import static verticles.ProtocolSupport.req;
import static verticles.ProtocolSupport.run;
import static verticles.ProtocolSupport.unb64;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import support.SharedAgent;

/**
 * The path rule by identity (hard links, the siblings of the blocked files), links into allowed
 * places, and files that are not regular files (FIFOs, devices, sockets): refused at once with
 * a clear error, never waited on, and still reported by stat and list_dir.
 */
class FileSafetyTest {
  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  @TempDir
  Path tmp;

  private static String system(String prefix) {
    return "Cannot access system path: " + prefix;
  }

  private AgentConnection open(String transport) throws Exception {
    return AgentConnection.open(transport.equals("tcp") ? agent.tcp() : agent.unix());
  }

  @Test
  void aHardLinkToABlockedFileIsRefusedWhateverItIsCalled() throws Exception {
    byte[] before = Files.readAllBytes(Path.of("/etc/shadow"));
    // In /etc itself, so that the link is on the same file system as what it links to.
    Path link = Path.of("/etc/agent-test-link-"
        + Long.toHexString(ThreadLocalRandom.current().nextLong()));
    Files.createLink(link, Path.of("/etc/shadow"));
    Path gLink = Path.of(link + "-g");
    Files.createLink(gLink, Path.of("/etc/gshadow"));
    try (AgentConnection c = open("tcp")) {
      String p = link.toString();
      assertEquals(error("r", system("/etc/shadow")),
          c.call(req("r", "read_file").put("path", p)));
      assertEquals(error("o", system("/etc/shadow")),
          c.call(req("o", "read_file").put("path", p).put("offset", 0).put("length", 10)));
      assertEquals(error("s", system("/etc/shadow")), c.call(req("s", "stat").put("path", p)));
      assertEquals(error("a", system("/etc/shadow")), c.call(req("a", "write_file")
          .put("path", p).put("content_base64", b64("x")).put("append", true)));
      assertEquals(error("w", system("/etc/shadow")), c.call(req("w", "write_file")
          .put("path", p).put("content_base64", b64("x"))));
      assertEquals(error("g", system("/etc/gshadow")),
          c.call(req("g", "read_file").put("path", gLink.toString())));
      // Through a symbolic link to the hard link, too.
      Path sym = Files.createSymbolicLink(tmp.resolve("sym"), link);
      assertEquals(error("y", system("/etc/shadow")),
          c.call(req("y", "read_file").put("path", sym.toString())));
    } finally {
      Files.deleteIfExists(link);
      Files.deleteIfExists(gLink);
    }
    assertArrayEquals(before, Files.readAllBytes(Path.of("/etc/shadow")));
  }

  @Test
  void aRecursiveRemoveRefusesABlockedFileItFindsUnderAnotherName() throws Exception {
    // In /etc itself, so that the hard link is on the same file system as /etc/shadow.
    Path dir = Path.of("/etc/agent-test-tree-"
        + Long.toHexString(ThreadLocalRandom.current().nextLong()));
    Path link = Files.createDirectories(dir.resolve("a")).resolve("s");
    Files.createLink(link, Path.of("/etc/shadow"));
    try (AgentConnection c = open("unix")) {
      assertEquals(error("rm", system("/etc/shadow")), c.call(req("rm", "remove_file")
          .put("path", dir.toString()).put("recursive", true)));
      assertTrue(Files.exists(link, LinkOption.NOFOLLOW_LINKS), "the link is left as it was");
    } finally {
      Files.deleteIfExists(link);
      Files.deleteIfExists(link.getParent());
      Files.deleteIfExists(dir);
    }
  }

  @Test
  void theSiblingsOfTheBlockedFilesAreRefused() throws Exception {
    Path etc = Files.createSymbolicLink(tmp.resolve("etc"), Path.of("/etc"));
    try (AgentConnection c = open("unix")) {
      for (String f : List.of("/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/passwd-")) {
        assertEquals(error("r", system(f)), c.call(req("r", "read_file").put("path", f)), f);
        assertEquals(error("s", system(f)), c.call(req("s", "stat").put("path", f)), f);
        String via = etc + f.substring("/etc".length());
        assertEquals(error("v", system(f)), c.call(req("v", "read_file").put("path", via)), via);
        assertEquals(error("w", system(f)), c.call(req("w", "write_file").put("path", via)
            .put("content_base64", b64("x")).put("append", true)), via);
      }
      // Look-alikes stay allowed: /etc itself is listed, and /etc/passwd.x is just missing.
      assertFalse(c.call(req("l", "list_dir").put("path", etc.toString())).containsKey("error"));
      JsonObject missing = c.call(req("m", "stat").put("path", "/etc/passwd.agent-test"));
      assertTrue(missing.getString("error").startsWith("Failed to stat file: "), missing.encode());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void linksIntoAllowedPlacesStillWork(String t) throws Exception {
    Path real = Files.createDirectory(tmp.resolve("real"));
    Path abs = Files.createSymbolicLink(tmp.resolve("abs"), real);
    Files.createSymbolicLink(tmp.resolve("rel"), Path.of("real"));
    Files.createSymbolicLink(real.resolve("up"), Path.of(".."));
    try (AgentConnection c = open(t)) {
      assertEquals(ok("w"), c.call(req("w", "write_file").put("path", abs + "/a/b.txt")
          .put("content_base64", b64("hello"))));
      assertEquals("hello", Files.readString(real.resolve("a/b.txt")));
      assertEquals(ok("ap"), c.call(req("ap", "write_file").put("path", tmp + "/rel/a/b.txt")
          .put("content_base64", b64(" world")).put("append", true)));
      assertEquals("hello world", unb64(c.call(req("r", "read_file")
          .put("path", tmp + "/rel/up/abs/a/b.txt")).getString("content_base64")));
      assertEquals(ok("m"), c.call(req("m", "mkdir").put("path", abs + "/x/y")
          .put("recursive", true)));
      assertTrue(Files.isDirectory(real.resolve("x/y")));
      assertEquals(ok("mv"), c.call(req("mv", "rename").put("path", abs + "/a/b.txt")
          .put("new_path", tmp + "/rel/x/c.txt")));
      assertEquals("hello world", Files.readString(real.resolve("x/c.txt")));
      JsonObject listed = c.call(req("l", "list_dir").put("path", abs.toString()));
      assertEquals(List.of("a", "up", "x"), listed.getJsonArray("entries").stream()
          .map(e -> ((JsonObject) e).getString("name")).toList());
      assertEquals("file", c.call(req("s", "stat").put("path", abs + "/x/c.txt"))
          .getJsonObject("stat").getString("type"));
      assertEquals("symlink", c.call(req("sl", "stat").put("path", abs.toString()))
          .getJsonObject("stat").getString("type"));
      assertEquals(ok("rr"), c.call(req("rr", "remove_file").put("path", abs + "/x")
          .put("recursive", true)));
      assertFalse(Files.exists(real.resolve("x")));
      // Removing the link removes the link, not the directory.
      assertEquals(ok("rl"), c.call(req("rl", "remove_file").put("path", abs.toString())));
      assertFalse(Files.exists(abs, LinkOption.NOFOLLOW_LINKS));
      assertTrue(Files.isDirectory(real.resolve("a")));
    }
  }

  @Test
  void plainPathsUnderExistingDirectoriesBehaveAsThroughLinks() throws Exception {
    // No link and no mount point: the walk opens the parent in one call.
    try (AgentConnection c = open("tcp")) {
      String one = tmp.resolve("one").toString();
      assertEquals(ok("m1"), c.call(req("m1", "mkdir").put("path", one).put("recursive", true)));
      assertTrue(Files.isDirectory(tmp.resolve("one")));
      assertEquals(ok("m2"), c.call(req("m2", "mkdir").put("path", one).put("recursive", true)));
      assertTrue(c.call(req("m3", "mkdir").put("path", one)).getString("error")
          .startsWith("Failed to create directory: File exists: "));
      assertEquals(ok("m4"), c.call(req("m4", "mkdir").put("path", one + "/two")));
      assertEquals(ok("w"), c.call(req("w", "write_file").put("path", one + "/f")
          .put("content_base64", b64("f"))));
      assertTrue(c.call(req("m5", "mkdir").put("path", one + "/f").put("recursive", true))
          .getString("error").startsWith("Failed to create directory: File exists: "));
      assertTrue(c.call(req("m6", "mkdir").put("path", one + "/f/g").put("recursive", true))
          .getString("error").startsWith("Failed to create directory: Not a directory: "));
      assertTrue(c.call(req("r", "read_file").put("path", one + "/missing"))
          .getString("error").startsWith("Failed to read file: No such file or directory: "));
      assertEquals(ok("rm"), c.call(req("rm", "remove_file").put("path", one + "/f")));
      assertEquals(ok("rr"), c.call(req("rr", "remove_file").put("path", one)
          .put("recursive", true)));
      assertFalse(Files.exists(tmp.resolve("one")));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void fifosDevicesAndSocketsAreRefusedAtOnceAndStillReported(String t) throws Exception {
    Path fifo = tmp.resolve("fifo");
    Path zero = tmp.resolve("zero");
    Path sock = tmp.resolve("sock");
    assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor());
    assertEquals(0, new ProcessBuilder("mknod", zero.toString(), "c", "1", "5").inheritIO()
        .start().waitFor());
    Files.writeString(tmp.resolve("plain.txt"), "plain");
    try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      server.bind(UnixDomainSocketAddress.of(sock));
      assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
        try (AgentConnection c = open(t)) {
          for (Path p : List.of(fifo, zero, sock)) {
            String s = p.toString();
            assertEquals(error("r", "Failed to read file: not a regular file"),
                c.call(req("r", "read_file").put("path", s)), s);
            assertEquals(error("o", "Failed to read file: not a regular file"),
                c.call(req("o", "read_file").put("path", s).put("offset", 0).put("length", 1)),
                s);
            assertEquals(error("w", "Failed to write file: not a regular file"),
                c.call(req("w", "write_file").put("path", s).put("content_base64", b64("x"))),
                s);
            assertEquals(error("a", "Failed to write file: not a regular file"),
                c.call(req("a", "write_file").put("path", s).put("content_base64", b64("x"))
                    .put("append", true)), s);
            assertEquals("other", c.call(req("s", "stat").put("path", s))
                .getJsonObject("stat").getString("type"), s);
          }
          Map<String, String> types = new HashMap<>();
          for (Object e : c.call(req("l", "list_dir").put("path", tmp.toString()))
              .getJsonArray("entries")) {
            types.put(((JsonObject) e).getString("name"), ((JsonObject) e).getString("type"));
          }
          assertEquals(Map.of("fifo", "other", "zero", "other", "sock", "other",
              "plain.txt", "file"), types);
          assertEquals(error("d", "Failed to list directory: Not a directory: " + fifo),
              c.call(req("d", "list_dir").put("path", fifo.toString())));
          // Many reads of the FIFO at once take no thread for good: what follows is served.
          for (int i = 0; i < 32; i++) {
            c.send(req("f" + i, "read_file").put("path", fifo.toString()));
          }
          for (int i = 0; i < 32; i++) {
            JsonObject r = c.receive();
            assertEquals("Failed to read file: not a regular file", r.getString("error"), r.encode());
          }
          assertEquals("plain", unb64(c.call(req("p", "read_file")
              .put("path", tmp.resolve("plain.txt").toString())).getString("content_base64")));
          assertEquals(ok("pw"), c.call(req("pw", "write_file")
              .put("path", tmp.resolve("new.txt").toString()).put("content_base64", b64("n"))));
          assertEquals("hi\n", c.call(run("run", "echo", "hi")).getString("stdout"));
        }
      });
    }
    // Nothing was written into the FIFO's place: it is still a FIFO.
    assertTrue(Files.exists(fifo) && !Files.isRegularFile(fifo));
  }
}
