package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;
import sys.LibC;

/**
 * A file system that never answers: a FUSE mount whose server never reads its requests, so every
 * look-up under it waits in the kernel, as on a hung network file system. File requests that
 * touch it wait too, and must hold nothing but the file pool: runs go on being served, and every
 * stuck request is answered once the file system goes away.
 */
class StuckFileSystemTest {
  /** More stuck requests than the file pool has threads (4). */
  private static final int STUCK = 8;

  @Test
  void aStuckFileSystemStopsNoRunAndEveryStuckRequestIsAnsweredWhenItGoes(@TempDir Path dir)
      throws Exception {
    Path mnt = Files.createDirectory(dir.resolve("mnt"));
    int fuse = LibC.openat(LibC.AT_FDCWD, LibC.c("/dev/fuse"), LibC.O_RDWR | LibC.O_CLOEXEC, 0);
    assertTrue(fuse >= 0, () -> "/dev/fuse: " + LibC.strerror(LibC.errno()));
    boolean mounted = false;
    try {
      // The server side is this descriptor, which nobody reads: not even the INIT request is
      // answered, so every operation on the mount waits.
      int rc = LibC.mount("stuck", mnt.toString(), "fuse", 0,
          "fd=" + fuse + ",rootmode=40000,user_id=0,group_id=0");
      assertEquals(0, rc, () -> "mount: " + LibC.strerror(LibC.errno()));
      mounted = true;
      try (AgentProcess agent = AgentProcess.launch(dir,
              List.of("--listen", "unix:" + dir.resolve("agent.sock")), Map.of()).awaitReady();
          AgentConnection files = AgentConnection.open(agent.unix());
          AgentConnection runs = AgentConnection.open(agent.unix())) {
        for (int i = 0; i < STUCK; i++) {
          String type = i % 2 == 0 ? "read_file" : "stat";
          files.send(new JsonObject().put("id", "s" + i).put("type", type)
              .put("path", mnt.resolve("f" + i).toString()));
        }
        for (int i = 0; i < 5; i++) {
          JsonObject r = runs.call(new JsonObject().put("id", "r" + i).put("type", "run")
              .put("command", new JsonArray().add("echo").add("ok " + i)));
          assertEquals(0, r.getInteger("exit_code"), r::encode);
          assertEquals("ok " + i + "\n", r.getString("stdout"), r::encode);
        }
        // A file request elsewhere waits behind the stuck ones only if the pool is full; a
        // ping on the same connection is answered first, which shows the stuck ones really
        // are stuck (none of them has an answer yet).
        files.send(new JsonObject().put("id", "p").put("type", "ping"));
        JsonObject first = files.receive();
        assertEquals("p", first.getString("id"), first::encode);

        // The file system goes away: closing the server's descriptor aborts its connection, and
        // every call waiting on it fails.
        assertEquals(0, LibC.close(fuse));
        fuse = -1;
        Set<String> answered = new HashSet<>();
        for (int i = 0; i < STUCK; i++) {
          JsonObject r = files.receive();
          assertTrue(r.containsKey("error"), r::encode);
          assertTrue(answered.add(r.getString("id")), () -> "answered twice: " + r.encode());
        }
        assertEquals(STUCK, answered.size());
        // And file work goes on.
        JsonObject stat = files.call(new JsonObject().put("id", "d").put("type", "stat")
            .put("path", dir.toString()));
        assertEquals("dir", stat.getJsonObject("stat").getString("type"), stat::encode);
      }
    } finally {
      if (mounted) {
        new ProcessBuilder("umount", "-l", mnt.toString()).inheritIO().start().waitFor();
      }
      if (fuse >= 0) {
        LibC.close(fuse);
      }
    }
  }
}
