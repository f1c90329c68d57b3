package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static verticles.ProtocolSupport.b64;
import static verticles.ProtocolSupport.req;
import static verticles.ProtocolSupport.unb64;

import client.AgentConnection;
import com.sun.jna.Library;
import com.sun.jna.Native;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import support.SharedAgent;

/**
 * The path rule under attack: a thread swaps a directory in the middle of the paths with a link
 * to a blocked place, with renameat2(RENAME_EXCHANGE), as fast as it can, while the host reads,
 * lists, writes, creates, renames and removes under it. Not one request may touch the far side. Each
 * race runs until it has seen both sides (a request served and a request refused), at least two
 * seconds, and at most thirty (a bound that only catches a hang).
 */
class FileRaceTest {
  private static final long MIN_NANOS = 2_000_000_000L;
  private static final long MAX_NANOS = 30_000_000_000L;

  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  @TempDir
  Path tmp;

  interface C extends Library {
    int renameat2(int olddirfd, String oldpath, int newdirfd, String newpath, int flags);
  }

  private static final C LIBC = Native.load("c", C.class);
  private static final int AT_FDCWD = -100;
  private static final int RENAME_EXCHANGE = 2;

  /** Exchanges two names as fast as it can until closed, then leaves them as they were. */
  static final class Swapper implements AutoCloseable {
    final AtomicLong swaps = new AtomicLong();
    private final Thread thread;
    private final String a;
    private final String b;
    private volatile boolean stop;

    Swapper(Path a, Path b) {
      this.a = a.toString();
      this.b = b.toString();
      thread = new Thread(() -> {
        while (!stop) {
          if (LIBC.renameat2(AT_FDCWD, this.a, AT_FDCWD, this.b, RENAME_EXCHANGE) == 0) {
            swaps.incrementAndGet();
          }
          // Back to back, the swaps hold the directory's lock so much that the agent's lookups
          // starve; a yield between them lets requests run into the race far more often.
          Thread.yield();
        }
      }, "swapper");
      thread.setDaemon(true);
      thread.start();
    }

    @Override
    public void close() throws InterruptedException {
      stop = true;
      thread.join(10_000);
      assertFalse(thread.isAlive(), "swapper did not stop");
      if (swaps.get() % 2 == 1
          && LIBC.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0) {
        swaps.incrementAndGet();
      }
    }
  }

  /** Counts what the requests met, until both a served and a refused one were seen. */
  static final class Tally {
    final long t0 = System.nanoTime();
    int served;
    int refused;
    int failed;

    boolean more() {
      long t = System.nanoTime() - t0;
      return t < MAX_NANOS && (t < MIN_NANOS || served == 0 || refused == 0);
    }

    /** Counts one answer: served (true), refused by the rule, or failed otherwise (false). */
    boolean count(JsonObject r, String failPrefix) {
      if (!r.containsKey("error")) {
        served++;
        return true;
      }
      String e = r.getString("error");
      if (e.startsWith("Cannot access system path: ")) {
        refused++;
      } else if (e.startsWith(failPrefix + ": ")) {
        failed++;
      } else {
        fail("unexpected answer " + r);
      }
      return false;
    }

    void assertBothSidesSeen(Swapper s) {
      String counts = "served=" + served + " refused=" + refused + " failed=" + failed
          + " swaps=" + s.swaps.get();
      assertTrue(served > 0 && refused > 0, counts);
      assertTrue(s.swaps.get() > 100, counts);
    }
  }

  @Test
  void readsAndStatsNeverSeeTheFarSide() throws Exception {
    Path base = Files.createDirectory(tmp.resolve("race"));
    Path d = Files.createDirectory(base.resolve("d"));
    Path l = Files.createSymbolicLink(base.resolve("l"), Path.of("/etc"));
    // A near-side file whose size differs from the far side's, so a stat tells them apart too.
    long farSize = Files.size(Path.of("/etc/shadow"));
    String near = "near side " + "x".repeat((int) (farSize % 50) + 1);
    Files.writeString(d.resolve("shadow"), near);
    String shadow = d.resolve("shadow").toString();
    Tally reads = new Tally();
    Tally others = new Tally();
    try (AgentConnection c = AgentConnection.open(agent.tcp()); Swapper s = new Swapper(d, l)) {
      int i = 0;
      while (reads.more()) {
        // Several reads in flight at once, as a busy host would send them.
        for (int k = 0; k < 8; k++) {
          c.send(req("r" + i + "-" + k, "read_file").put("path", shadow));
        }
        for (int k = 0; k < 8; k++) {
          JsonObject r = c.receive();
          if (reads.count(r, "Failed to read file")) {
            assertEquals(near, unb64(r.getString("content_base64")), "read " + r);
          }
        }
        JsonObject r;
        r = c.call(req("o" + i, "read_file").put("path", shadow).put("offset", 0)
            .put("length", 4096));
        if (others.count(r, "Failed to read file")) {
          assertEquals(near, unb64(r.getString("content_base64")), "chunk " + r);
        }
        r = c.call(req("s" + i, "stat").put("path", shadow));
        if (others.count(r, "Failed to stat file")) {
          assertEquals(near.length(), r.getJsonObject("stat").getLong("size"), "stat " + r);
        }
        i++;
      }
      s.close();
      reads.assertBothSidesSeen(s);
    }
    assertTrue(Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS));
  }

  @Test
  void writesCreatesRenamesAndRemovesNeverLandInABlockedPlace() throws Exception {
    Path base = Files.createDirectory(tmp.resolve("race"));
    Path d = Files.createDirectory(base.resolve("d"));
    // /dev/shm stands in for a blocked place that writes could damage.
    Path far = Path.of("/dev/shm");
    Path l = Files.createSymbolicLink(base.resolve("l"), far);
    String p = "agent-race-" + Long.toHexString(ThreadLocalRandom.current().nextLong());
    Path victim = Files.writeString(far.resolve(p + "-victim"), "far");
    Path farA = Files.writeString(far.resolve(p + "-a"), "far");
    Tally mkdirs = new Tally();
    Tally others = new Tally();
    try (AgentConnection c = AgentConnection.open(agent.unix()); Swapper s = new Swapper(d, l)) {
      String in = d + "/" + p;
      int i = 0;
      while (mkdirs.more()) {
        mkdirs.count(c.call(req("m" + i, "mkdir").put("path", in + "-m" + i)),
            "Failed to create directory");
        others.count(c.call(req("mr" + i, "mkdir").put("path", in + "-deep" + i + "/x/y")
            .put("recursive", true)), "Failed to create directory");
        others.count(c.call(req("w" + i, "write_file").put("path", in + "-w" + i)
            .put("content_base64", b64("near"))), "Failed to write file");
        others.count(c.call(req("ap" + i, "write_file").put("path", in + "-victim")
            .put("content_base64", b64("near")).put("append", true)), "Failed to write file");
        others.count(c.call(req("wa" + i, "write_file").put("path", in + "-a")
            .put("content_base64", b64("near"))), "Failed to write file");
        others.count(c.call(req("mv" + i, "rename").put("path", in + "-a")
            .put("new_path", in + "-b" + i)), "Failed to rename file");
        others.count(c.call(req("rm" + i, "remove_file").put("path", in + "-victim")),
            "Failed to remove file");
        others.count(c.call(req("rr" + i, "remove_file").put("path", in + "-deep" + i)
            .put("recursive", true)), "Failed to remove file");
        JsonObject listed = c.call(req("ls" + i, "list_dir").put("path", d.toString()));
        if (others.count(listed, "Failed to list directory")) {
          for (Object e : listed.getJsonArray("entries")) {
            String name = ((JsonObject) e).getString("name");
            assertTrue(name.contains(p), "listed the far side: " + name);
          }
        }
        i++;
      }
      s.close();
      mkdirs.assertBothSidesSeen(s);
    } finally {
      List<String> landed = new ArrayList<>();
      try (Stream<Path> list = Files.list(far)) {
        list.map(x -> x.getFileName().toString()).filter(n -> n.startsWith(p))
            .forEach(landed::add);
      }
      String victimText = Files.exists(victim) ? Files.readString(victim) : "<removed>";
      String aText = Files.exists(farA) ? Files.readString(farA) : "<moved away>";
      Files.deleteIfExists(victim);
      Files.deleteIfExists(farA);
      for (String n : landed) {
        deleteTree(far.resolve(n));
      }
      assertEquals(Set.of(p + "-victim", p + "-a"), new HashSet<>(landed),
          "requests landed in the far side");
      assertEquals("far", victimText);
      assertEquals("far", aText);
    }
  }

  @Test
  void recursiveRemoveNeverEntersADirectorySwappedForALinkToADecoy() throws Exception {
    Path decoy = Files.createDirectory(tmp.resolve("decoy"));
    for (int k = 0; k < 50; k++) {
      Files.writeString(decoy.resolve("keep" + k), "decoy " + k);
    }
    Files.createDirectories(decoy.resolve("inner/deeper"));
    Files.writeString(decoy.resolve("inner/deeper/keep"), "decoy inner");
    Path out = Files.createDirectory(tmp.resolve("out"));
    long t0 = System.nanoTime();
    long swapsDuringRemoves = 0;
    int rounds = 0;
    try (AgentConnection c = AgentConnection.open(agent.tcp())) {
      while ((System.nanoTime() - t0 < MIN_NANOS || rounds < 5)
          && System.nanoTime() - t0 < MAX_NANOS) {
        Path tree = Files.createDirectory(tmp.resolve("tree" + rounds));
        for (String sub : List.of("a", "sub", "z")) {
          Path dir = Files.createDirectories(tree.resolve(sub).resolve("inner"));
          for (int k = 0; k < 200; k++) {
            Files.writeString(tree.resolve(sub).resolve("f" + k), "tree");
          }
          Files.writeString(dir.resolve("g"), "tree");
        }
        Path link = Files.createSymbolicLink(out.resolve("l" + rounds), decoy);
        JsonObject r;
        try (Swapper s = new Swapper(tree.resolve("sub"), link)) {
          r = c.call(req("rr" + rounds, "remove_file").put("path", tree.toString())
              .put("recursive", true));
          s.close();
          swapsDuringRemoves += s.swaps.get();
        }
        if (r.containsKey("error")) {
          assertTrue(r.getString("error").startsWith("Failed to remove file: "), r.encode());
        }
        // The decoy is whole after every round.
        assertDecoyWhole(decoy);
        deleteTree(tree);
        deleteTree(link);
        rounds++;
      }
    }
    assertTrue(swapsDuringRemoves > 0, "rounds=" + rounds);
    assertDecoyWhole(decoy);
  }

  private static void assertDecoyWhole(Path decoy) throws IOException {
    for (int k = 0; k < 50; k++) {
      assertEquals("decoy " + k, Files.readString(decoy.resolve("keep" + k)));
    }
    assertEquals("decoy inner", Files.readString(decoy.resolve("inner/deeper/keep")));
  }

  /** Deletes a tree without following links (a link itself is deleted). */
  static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
      try (Stream<Path> list = Files.list(p)) {
        for (Path child : (Iterable<Path>) list::iterator) {
          deleteTree(child);
        }
      }
    }
    Files.delete(p);
  }
}
