package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ProtocolSupport.b64;
import static verticles.ProtocolSupport.req;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;

/**
 * The file requests open descriptors by hand (the walk, the final opens, the directories of a
 * listing or a recursive remove); every path through them, served or refused, gives each one
 * back. Counted in /proc/PID/fd of a real agent before and after every kind of request, many
 * times over.
 */
class FileDescriptorTest {
  @TempDir
  Path tmp;

  private static long fds(long pid) throws Exception {
    try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
      return s.count();
    }
  }

  @Test
  void everyFileRequestGivesBackItsDescriptors() throws Exception {
    Files.createSymbolicLink(tmp.resolve("lproc"), Path.of("/proc/self"));
    Files.createSymbolicLink(tmp.resolve("letc"), Path.of("/etc"));
    Files.createSymbolicLink(tmp.resolve("lloop"), Path.of("lloop"));
    Files.createSymbolicLink(tmp.resolve("lreal"), Path.of("real"));
    Files.createDirectories(tmp.resolve("real/up"));
    Files.writeString(tmp.resolve("plain"), "plain");
    assertEquals(0, new ProcessBuilder("mkfifo", tmp.resolve("fifo").toString()).start().waitFor());
    String t = tmp.toString();
    try (AgentProcess a = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(a.tcp())) {
      long before = -1;
      for (int i = 0; i < 60; i++) {
        if (i == 10) {
          before = fds(a.pid());
        }
        String d = t + "/lreal/d" + i;
        List<JsonObject> requests = List.of(
            req("m", "mkdir").put("path", d + "/x/y").put("recursive", true),
            req("w", "write_file").put("path", d + "/x/f").put("content_base64", b64("f")),
            req("a", "write_file").put("path", d + "/x/f").put("content_base64", b64("g"))
                .put("append", true),
            req("r", "read_file").put("path", d + "/x/f"),
            req("o", "read_file").put("path", d + "/x/f").put("offset", 1).put("length", 1),
            req("s", "stat").put("path", d + "/x/f"),
            req("l", "list_dir").put("path", d + "/x"),
            req("mv", "rename").put("path", d + "/x/f").put("new_path", d + "/x/g"),
            req("rr", "remove_file").put("path", d).put("recursive", true),
            req("p1", "read_file").put("path", t + "/lproc/status"),
            req("p2", "stat").put("path", t + "/letc/shadow"),
            req("p3", "read_file").put("path", t + "/lloop/x"),
            req("p4", "read_file").put("path", t + "/fifo"),
            req("p5", "list_dir").put("path", t + "/plain"),
            req("p6", "write_file").put("path", t + "/plain/x").put("content_base64", b64("x")),
            req("p7", "mkdir").put("path", t + "/missing/x"),
            req("p8", "remove_file").put("path", t + "/real"),
            req("p9", "read_file").put("path", t + "/lreal/up"),
            req("pa", "rename").put("path", t + "/missing").put("new_path", t + "/other"),
            req("lb", "list_dir").put("path", t + "/letc/ssl"));
        for (JsonObject r : requests) {
          JsonObject got = c.call(r);
          assertEquals(r.getString("id"), got.getString("id"));
          // The p... requests are refused or fail; the others are served.
          assertEquals(r.getString("id").startsWith("p"), got.containsKey("error"),
              () -> r.encode() + " -> " + got.encode());
        }
      }
      long after = fds(a.pid());
      assertTrue(after <= before, "descriptors before=" + before + " after=" + after);
      // The file work ran on its own pool, apart from the one that spawns and kills.
      List<String> names = new java.util.ArrayList<>();
      try (Stream<Path> tasks = Files.list(Path.of("/proc/" + a.pid() + "/task"))) {
        for (Path task : (Iterable<Path>) tasks::iterator) {
          names.add(Files.readString(task.resolve("comm")).trim());
        }
      }
      assertTrue(names.stream().anyMatch(n -> n.equals("agent-file")), names.toString());
    }
  }
}
