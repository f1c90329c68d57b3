package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ProtocolSupport.req;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;

/**
 * list_dir of a directory with 200,000 entries, twice at once, against an agent started with
 * bin/agent's own JVM flags (its 192 MiB heap, and exit on OutOfMemoryError): the listing stops
 * at what one answer can hold, so the agent stays up and answers. A directory whose listing just
 * fits is answered in full on both transports at once, within the same heap.
 */
class ListDirMemoryTest {
  @TempDir
  Path tmp;

  /** The JVM flags that bin/agent passes, read from the script so the two cannot drift. */
  static List<String> agentJvmFlags() throws Exception {
    List<String> flags = new ArrayList<>();
    boolean in = false;
    for (String line : Files.readAllLines(Path.of("bin/agent"))) {
      String s = line.trim();
      if (s.startsWith("flags=(")) {
        in = true;
        continue;
      }
      if (in && s.equals(")")) {
        break;
      }
      if (in) {
        flags.addAll(List.of(s.split("\\s+")));
      }
    }
    assertTrue(flags.contains("-Xmx192m"), "bin/agent flags: " + flags);
    return flags;
  }

  private static void sh(Path dir, String script) throws Exception {
    Process p = new ProcessBuilder("bash", "-c", script).directory(dir.toFile()).inheritIO()
        .start();
    assertEquals(0, p.waitFor(), script);
  }

  private static void assertFullListing(JsonObject r) {
    assertFalse(r.containsKey("error"), () -> r.getString("error"));
    JsonArray entries = r.getJsonArray("entries");
    assertEquals(125_000, entries.size());
    assertEquals("e000000", entries.getJsonObject(0).getString("name"));
    assertEquals("e124999", entries.getJsonObject(124_999).getString("name"));
  }

  @Test
  void twoListingsOfAHugeDirectoryStayWithinTheAgentsHeap() throws Exception {
    Path big = Files.createDirectory(tmp.resolve("big"));
    sh(big, "seq -f e%06g 0 199999 | xargs touch");
    Path dir = Files.createDirectory(tmp.resolve("agent"));
    List<String> args = List.of("--listen", "tcp://127.0.0.1:0", "--listen",
        "unix:" + dir.resolve("agent.sock"));
    String flags = String.join(" ", agentJvmFlags());
    try (AgentProcess a = AgentProcess.launch(dir, args, Map.of("JDK_JAVA_OPTIONS", flags))
        .awaitReady();
        AgentConnection tcp = AgentConnection.open(a.tcp());
        AgentConnection unix = AgentConnection.open(a.unix())) {
      assertTrue(a.log().stream().anyMatch(l -> l.contains("-Xmx192m")), "flags not taken");
      for (int round = 0; round < 2; round++) {
        tcp.send(req("t" + round, "list_dir").put("path", big.toString()));
        unix.send(req("u" + round, "list_dir").put("path", big.toString()));
        for (AgentConnection c : List.of(tcp, unix)) {
          JsonObject r = c.receive();
          assertTrue(r.getString("error", "").startsWith(
              "Failed to list directory: Too many entries for one response"), r.encode());
        }
      }
      // 125,000 entries of 78 bytes each just fit one answer. What a listing holds is taken from
      // the budget for answers on their way to hosts (12 MiB here): two listings being built fit
      // it, but one being built beside the other's 9.75 MB answer in a queue may not, and is then
      // answered Busy, which a retry after that answer was read does not get.
      sh(big, "seq -f e%06g 125000 199999 | xargs rm");
      tcp.send(req("t", "list_dir").put("path", big.toString()));
      unix.send(req("u", "list_dir").put("path", big.toString()));
      List<AgentConnection> retry = new ArrayList<>();
      for (AgentConnection c : List.of(tcp, unix)) {
        JsonObject r = c.receive();
        if (r.getString("error", "").startsWith("Busy: memory for answers on their way")) {
          retry.add(c);
        } else {
          assertFullListing(r);
        }
      }
      assertTrue(retry.size() < 2, "both listings refused");
      for (AgentConnection c : retry) {
        assertFullListing(c.call(req("again", "list_dir").put("path", big.toString())));
      }
      assertTrue(a.process().isAlive());
      assertEquals("file", tcp.call(req("s", "stat").put("path", big + "/e000000"))
          .getJsonObject("stat").getString("type"));
    }
  }
}
