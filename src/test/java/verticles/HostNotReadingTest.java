package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import support.AgentProcess;
import support.Poll;
import support.Procs;

/**
 * A host that stops reading loses its connection at once, on every transport: when its answers
 * pass write_queue_max_bytes, or when the queue has not moved for write_stall_timeout_ms. Its runs
 * are killed and its sessions detached (another connection can attach them). vsock connections
 * use the same channel class and code as Unix ones, so the Unix case covers their byte path.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HostNotReadingTest {
  /** A folder for each agent a test starts, for its socket. */
  @TempDir
  Path tmp;

  private AgentProcess agent(Map<String, String> env) throws Exception {
    Path dir = Files.createTempDirectory(tmp, "not-reading");
    return AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0", "--listen",
        "unix:" + dir.resolve("agent.sock")), env).awaitReady();
  }

  private static String address(AgentProcess a, String transport) {
    return transport.equals("tcp") ? a.tcp() : a.unix();
  }

  /**
   * Starts a run and a shell on {@code c}, then asks for {@code reads} large answers and reads
   * none of them; returns the run's argv and the session id.
   */
  private static Object[] stopReading(AgentConnection c, Path file, int reads) throws Exception {
    String seconds = "300." + ThreadLocalRandom.current().nextInt(1_000_000);
    JsonObject shell = c.call(new JsonObject().put("id", "sh").put("type", "shell")
        .put("command", new JsonArray().add("/bin/cat")));
    String session = shell.getString("session_id");
    c.send(new JsonObject().put("id", "run").put("type", "run")
        .put("command", new JsonArray().add("sleep").add(seconds)));
    Poll.until("the run started", 20_000, () -> Procs.running("sleep", seconds));
    for (int i = 0; i < reads; i++) {
      try {
        c.send(new JsonObject().put("id", "r" + i).put("type", "read_file")
            .put("path", file.toString()));
      } catch (IOException e) {
        // The agent gave up on this host while it was still asking (its threads are real-time,
        // so it can be that quick): what the test waits for next.
        break;
      }
    }
    return new Object[] {new String[] {"sleep", seconds}, session};
  }

  /** Reads what is left until the end of the stream, and returns how many frames came. */
  private static int drain(AgentConnection c) {
    int frames = 0;
    try {
      while (true) {
        c.receive();
        frames++;
      }
    } catch (IOException e) {
      // The end of the stream, or a reset: the agent closed the connection.
    }
    return frames;
  }

  private static void assertLetGo(AgentProcess agent, String transport, Object[] left)
      throws Exception {
    String[] run = (String[]) left[0];
    Poll.until("the run of the closed connection is killed", 30_000, () -> !Procs.running(run));
    try (AgentConnection other = AgentConnection.open(address(agent, transport))) {
      assertEquals(0, other.call(new JsonObject().put("id", "p").put("type", "ping"))
          .getInteger("exit_code"));
      JsonObject attach = other.call(new JsonObject().put("id", "a").put("type", "shell_attach")
          .put("session_id", left[1]));
      assertEquals(0, attach.getInteger("exit_code"), attach::encode);
      other.call(new JsonObject().put("id", "c").put("type", "shell_close")
          .put("session_id", left[1]));
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void pastTheWriteQueueLimitTheConnectionIsClosedAtOnce(String transport) throws Exception {
    lettingGo(transport, Map.of("AGENT_WRITE_QUEUE_MAX_BYTES", "1048576",
        "AGENT_WRITE_STALL_TIMEOUT_MS", "600000"), "write queue full");
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void aWriteQueueThatDoesNotMoveIsClosedAfterTheStallTimeout(String transport)
      throws Exception {
    lettingGo(transport, Map.of("AGENT_WRITE_STALL_TIMEOUT_MS", "1000"), "no write progress");
  }

  /**
   * A host asks for about 28 MB of answers (more than the sockets hold) and never reads: the
   * agent, configured by {@code env}, gives up on it for {@code reason} and lets its work go.
   */
  private void lettingGo(String transport, Map<String, String> env, String reason)
      throws Exception {
    try (AgentProcess agent = agent(env)) {
      Path file = agent.dir().resolve("half-a-mebibyte");
      Files.write(file, new byte[512 * 1024]);
      Object[] left;
      try (AgentConnection c = AgentConnection.open(address(agent, transport))) {
        left = stopReading(c, file, 40);
        Poll.until("the agent gives up on the host", 30_000, () -> agent.log().stream()
            .anyMatch(l -> l.contains("host_not_reading") && l.contains(reason)));
        int frames = drain(c);
        assertTrue(frames < 40, "all " + frames + " answers were kept for a host that never read");
      }
      assertLetGo(agent, transport, left);
    }
  }
}
