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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;

/** Each limit of protocol.md §2.5 answers Busy at once and disturbs nothing else. */
class LimitsTest {
  /** A folder for each agent a test starts, for its socket. */
  @TempDir
  Path tmp;

  private AgentProcess agentWith(Map<String, String> env) throws Exception {
    Path dir = Files.createTempDirectory(tmp, "limits");
    return AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0", "--listen",
        "unix:" + dir.resolve("agent.sock")), env).awaitReady();
  }

  private static JsonObject sleepRun(String id) {
    return new JsonObject().put("id", id).put("type", "run")
        .put("command", new JsonArray().add("sleep").add("2"));
  }

  @Test
  void connectionsPastTheLimitGetOneBusyFrameAndAreClosed() throws Exception {
    try (AgentProcess agent = agentWith(Map.of("AGENT_MAX_CONNECTIONS", "2"));
        AgentConnection a = AgentConnection.open(agent.unix());
        AgentConnection b = AgentConnection.open(agent.tcp())) {
      assertEquals(0, a.call(ping("a")).getInteger("exit_code"));
      assertEquals(0, b.call(ping("b")).getInteger("exit_code"));
      try (AgentConnection c = AgentConnection.open(agent.unix())) {
        JsonObject r = c.receive();
        assertEquals("", r.getString("id"));
        assertEquals("Busy: connections (max 2)", r.getString("error"));
        assertTrue(c.closedByAgent());
      }
      // The two admitted connections are undisturbed, and a slot frees when one closes.
      assertEquals(0, a.call(ping("a2")).getInteger("exit_code"));
      b.close();
      JsonObject again = null;
      long deadline = System.nanoTime() + 10_000_000_000L;
      while (again == null || again.containsKey("error")) {
        assertTrue(System.nanoTime() < deadline, "slot never freed");
        try (AgentConnection c = AgentConnection.open(agent.tcp())) {
          again = c.call(ping("c"));
        } catch (java.io.IOException e) {
          again = null;
        }
      }
      assertEquals(0, again.getInteger("exit_code"));
    }
  }

  @Test
  void requestsInFlightPastTheLimitAnswerBusy() throws Exception {
    try (AgentProcess agent = agentWith(Map.of("AGENT_MAX_REQUESTS_PER_CONNECTION", "2"));
        AgentConnection c = AgentConnection.open(agent.unix())) {
      c.send(sleepRun("s1"));
      c.send(sleepRun("s2"));
      c.send(sleepRun("s3"));
      JsonObject first = c.receive();
      assertEquals("s3", first.getString("id"));
      assertEquals("Busy: requests in flight on this connection (max 2)",
          first.getString("error"));
      assertEquals(0, c.receive().getInteger("exit_code"));
      assertEquals(0, c.receive().getInteger("exit_code"));
    }
  }

  @Test
  void runsPastTheLimitAnswerBusyOnAnyConnection() throws Exception {
    try (AgentProcess agent = agentWith(Map.of("AGENT_MAX_RUNS", "1"));
        AgentConnection a = AgentConnection.open(agent.unix());
        AgentConnection b = AgentConnection.open(agent.tcp())) {
      a.send(sleepRun("long"));
      // Poll until the first run holds the slot (it may still be starting).
      JsonObject r;
      long deadline = System.nanoTime() + 10_000_000_000L;
      do {
        r = b.call(new JsonObject().put("id", "second").put("type", "run")
            .put("command", new JsonArray().add("/bin/true")));
        assertTrue(System.nanoTime() < deadline, "the limit never applied");
      } while (!r.containsKey("error"));
      assertEquals("Busy: runs (max 1)", r.getString("error"));
      assertEquals(0, b.call(ping("p")).getInteger("exit_code"));
      assertEquals(0, a.receive().getInteger("exit_code"));
      assertEquals(0, b.call(new JsonObject().put("id", "third").put("type", "run")
          .put("command", new JsonArray().add("/bin/true"))).getInteger("exit_code"));
    }
  }

  @Test
  void aHostThatStopsReadingHasItsConnectionClosed() throws Exception {
    try (AgentProcess agent = agentWith(Map.of("AGENT_WRITE_QUEUE_MAX_BYTES", "1048576"))) {
      Path file = agent.dir().resolve("half-a-mebibyte");
      Files.write(file, new byte[512 * 1024]);
      try (AgentConnection c = AgentConnection.open(agent.tcp())) {
        // Ask for 40 answers of about 700 KB each and read none of them: once more than the
        // limit waits beyond what the sockets hold, the agent gives up on this host.
        for (int i = 0; i < 40; i++) {
          c.send(new JsonObject().put("id", "r" + i).put("type", "read_file")
              .put("path", file.toString()));
        }
        support.Poll.until("the agent gives up on the host", 30_000,
            () -> agent.log().stream().anyMatch(l -> l.contains("host_not_reading")));
        int frames = 0;
        try {
          while (true) {
            c.receive();
            frames++;
          }
        } catch (java.io.IOException e) {
          // The end of the stream: the agent closed the connection.
        }
        assertTrue(frames < 40, "all " + frames + " answers were kept for a host that never read");
      }
      // Other hosts are not disturbed.
      try (AgentConnection other = AgentConnection.open(agent.unix())) {
        assertEquals(0, other.call(ping("after")).getInteger("exit_code"));
      }
    }
  }

  @Test
  void runOutputHeldInMemoryIsBoundedAcrossRuns() throws Exception {
    try (AgentProcess agent = agentWith(Map.of("AGENT_RUN_OUTPUT_BUDGET_BYTES", "1048576"));
        AgentConnection a = AgentConnection.open(agent.unix());
        AgentConnection b = AgentConnection.open(agent.tcp())) {
      // A takes most of the budget (all but the reserve for other streams' first 32 KiB and
      // 50,272 bytes) and holds it while it sleeps.
      a.send(new JsonObject().put("id", "a").put("type", "run").put("command", new JsonArray()
          .add("sh").add("-c").add("head -c 900000 /dev/zero | tr '\\0' a; sleep 3")));
      // B's output comes a second later, while A still holds the budget: it is cut.
      JsonObject rb = b.call(new JsonObject().put("id", "b").put("type", "run").put("command",
          new JsonArray().add("sh").add("-c").add("sleep 1; head -c 100000 /dev/zero | tr '\\0' b")));
      assertEquals(true, rb.getBoolean("stdout_truncated"), "B: " + rb.getString("stdout").length());
      assertTrue(rb.getString("stdout").length() < 100_000);
      JsonObject ra = a.receive();
      assertEquals(900_000, ra.getString("stdout").length());
      assertEquals(null, ra.getValue("stdout_truncated"));
      // Once A is answered, its bytes are free again.
      JsonObject rc = b.call(new JsonObject().put("id", "c").put("type", "run").put("command",
          new JsonArray().add("sh").add("-c").add("head -c 100000 /dev/zero | tr '\\0' c")));
      assertEquals(100_000, rc.getString("stdout").length());
      assertEquals(null, rc.getValue("stdout_truncated"));
    }
  }

  private static JsonObject ping(String id) {
    return new JsonObject().put("id", id).put("type", "ping");
  }
}
