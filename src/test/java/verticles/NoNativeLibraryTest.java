package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;

/**
 * An agent whose JNA cannot load its native library (the folder it would unpack it into cannot be
 * written, and no copy lies beside the agent): it falls back to the JDK's process engine, and
 * every request is answered, with an error where the request needs the C library. Before, a run
 * on such an agent was never answered: the event loop's poller and the cgroup watch called into
 * JNA, and the error that JNA's first use throws left the request waiting.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NoNativeLibraryTest {
  @TempDir
  Path dir;

  @Test
  void everyRequestIsAnsweredWithoutTheCLibrary() throws Exception {
    // A folder under a plain file: no one, root included, can create it or write in it.
    Path plain = Files.writeString(dir.resolve("plain"), "");
    Path file = Files.writeString(dir.resolve("data.txt"), "kept\n");
    try (AgentProcess agent = AgentProcess.launchWrapped(dir, List.of(),
            List.of("-Djna.tmpdir=" + plain.resolve("jna"), "-Djna.nosys=true"),
            List.of("--listen", "unix:" + dir.resolve("agent.sock")), Map.of()).awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject ran = c.call(run("r", "sh", "-c", "echo hi; echo oops >&2; exit 3"));
      assertEquals(3, ran.getInteger("exit_code"), ran::encode);
      assertEquals("hi\n", ran.getString("stdout"), ran::encode);
      assertEquals("oops\n", ran.getString("stderr"), ran::encode);
      JsonObject timed = c.call(run("t", "sleep", "30").put("timeout_ms", 300));
      assertEquals(124, timed.getInteger("exit_code"), timed::encode);
      JsonObject missing = c.call(run("m", "/no/such/program"));
      assertTrue(missing.getString("error", "").startsWith("Failed to run command: "),
          missing::encode);
      JsonObject shell = c.call(new JsonObject().put("id", "s").put("type", "shell")
          .put("command", new JsonArray().add("/bin/sh")));
      // pty4j, the fallback's terminals, needs JNA too.
      assertEquals("s", shell.getString("id"), shell::encode);
      assertTrue(shell.getString("error", "").startsWith("Failed to start shell: "),
          shell::encode);
      JsonObject read = c.call(new JsonObject().put("id", "f").put("type", "read_file")
          .put("path", file.toString()));
      // The path rules open what they check through the C library: refused, and said why.
      assertEquals("f", read.getString("id"), read::encode);
      assertTrue(read.getString("error", "")
          .startsWith("Internal error: native code unavailable to the agent ("), read::encode);
      assertEquals(0, c.call(new JsonObject().put("id", "p").put("type", "ping"))
          .getInteger("exit_code"));
      agent.awaitLog("the fallback engine", l -> l.contains("process_engine engine=jdk"));
    }
  }

  private static JsonObject run(String id, String... command) {
    return new JsonObject().put("id", id).put("type", "run")
        .put("command", new JsonArray(List.of((Object[]) command)));
  }
}
