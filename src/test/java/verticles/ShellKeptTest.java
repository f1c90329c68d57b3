package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ProtocolSupport.assertError;
import static verticles.ProtocolSupport.req;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import support.AgentProcess;

/**
 * What a session keeps of its {@code shell} request for its whole life is bounded (the memory
 * plan's "shell requests kept" term): its id and command, at most 16 KiB in at most 256
 * arguments, or the request is refused with {@code Invalid request: ...}; its environment is
 * dropped once the process has started.
 */
class ShellKeptTest {
  private static final int MIB = 1024 * 1024;

  @Test
  void anIdAndCommandOverTheBoundAreRefusedAndOneAtItStartsOnTcpAndUnix() throws Exception {
    try (AgentProcess agent = AgentProcess.start()) {
      agent.awaitReady();
      for (String address : List.of(agent.tcp(), agent.unix())) {
        try (AgentConnection c = AgentConnection.open(address)) {
          // id "k" (1 byte) + "/bin/sleep\0" (11) + "600\0" (4) + padding and its NUL: 16384.
          String pad = "x".repeat(16384 - 1 - 11 - 4 - 1);
          JsonObject over = req("k", "shell").put("command",
              new JsonArray().add("/bin/sleep").add("600").add(pad + "x"));
          assertError("k", "Invalid request: a shell session keeps its id and command",
              c.call(over));
          // Characters beyond ASCII count as their UTF-8 bytes: 2 each here.
          JsonObject wide = req("k", "shell").put("command", new JsonArray().add("/bin/sleep")
              .add("600").add("\u00e9".repeat(pad.length() / 2 + 1)));
          assertError("k", "Invalid request: a shell session keeps", c.call(wide));
          JsonArray many = new JsonArray().add("/bin/sleep");
          for (int i = 0; i < 256; i++) {
            many.add("1");
          }
          assertError("k", "Invalid request: a shell command has at most 256 arguments",
              c.call(req("k", "shell").put("command", many)));
          assertEquals(0, c.call(req("l", "list_sessions")).getJsonArray("sessions").size());

          // Exactly at the bound it starts, and list_sessions reports the command whole.
          JsonObject started = c.call(req("k", "shell").put("command",
              new JsonArray().add("/bin/sleep").add("600").add(pad)));
          String sid = started.getString("session_id");
          assertNotNull(sid, started.encode());
          JsonArray sessions = c.call(req("l", "list_sessions")).getJsonArray("sessions");
          assertEquals(1, sessions.size());
          assertEquals(new JsonArray().add("/bin/sleep").add("600").add(pad),
              sessions.getJsonObject(0).getJsonArray("command"));
          JsonObject closed = c.call(req("c", "shell_close").put("session_id", sid));
          assertEquals(null, closed.getString("error"), closed.encode());
        }
      }
    }
  }

  @Test
  void aSessionDoesNotKeepItsEnvironment() throws Exception {
    try (AgentProcess agent = AgentProcess.start()) {
      agent.awaitReady();
      try (AgentConnection c = AgentConnection.open(agent.tcp())) {
        // Warm up: the first session loads what every session shares.
        String first = start(c, "w", new JsonObject());
        close(c, first);
        long before = heapUsedAfterGc(agent.pid());
        // 16 sessions, each started with 1 MiB of environment (8 variables under the kernel's
        // 128 KiB a string), all alive at once.
        List<String> sids = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
          JsonObject env = new JsonObject();
          for (int v = 0; v < 8; v++) {
            env.put("BIG" + v, Character.toString('a' + v).repeat(MIB / 8 - 64));
          }
          sids.add(start(c, "s" + i, env));
        }
        long after = heapUsedAfterGc(agent.pid());
        // Keeping the environments would hold 16 MiB (more with their map and strings).
        assertTrue(after - before < 8L * MIB,
            "heap grew by " + (after - before) + " bytes for 16 sessions");
        for (String sid : sids) {
          close(c, sid);
        }
      }
    }
  }

  private static String start(AgentConnection c, String id, JsonObject env) throws Exception {
    JsonObject r = c.call(req(id, "shell").put("command",
        new JsonArray().add("/bin/sleep").add("600")).put("env", env));
    String sid = r.getString("session_id");
    assertNotNull(sid, r.encode());
    return sid;
  }

  private static void close(AgentConnection c, String sid) throws Exception {
    JsonObject r = c.call(req("c-" + sid, "shell_close").put("session_id", sid));
    assertEquals(null, r.getString("error"), r.encode());
  }

  /** The agent's heap in use after a full collection, in bytes (jcmd, from this JDK). */
  private static long heapUsedAfterGc(long pid) throws Exception {
    jcmd(pid, "GC.run");
    String info = jcmd(pid, "GC.heap_info");
    // The heap's (or each generation's) line; not metaspace.
    // JDK 17: "total NK, used NK"; later ones: "total reserved NK, committed NK, used NK".
    Matcher m = Pattern.compile("(?m)^\\s*\\S.*?(?:heap|generation)\\s+total\\b.*?used (\\d+)K")
        .matcher(info);
    long used = 0;
    int n = 0;
    while (m.find()) {
      used += Long.parseLong(m.group(1)) * 1024;
      n++;
    }
    assertTrue(n > 0, info);
    return used;
  }

  private static String jcmd(long pid, String what) throws Exception {
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd")
        .toString(), Long.toString(pid), what).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "jcmd " + what);
    assertEquals(0, p.exitValue(), out);
    return out;
  }
}
