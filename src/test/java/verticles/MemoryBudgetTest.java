package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import support.AgentProcess;
import support.Poll;
import support.Procs;

/**
 * The budgets over all connections hold under the heap bin/agent gives (-Xmx192m, and the agent
 * exits on OutOfMemoryError as under bin/agent): answers queued for hosts that stop reading,
 * requests being served, and the buffers of streamed runs.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class MemoryBudgetTest {
  private static final Map<String, String> AGENT_HEAP = Map.of("JAVA_TOOL_OPTIONS",
      "-XX:+UseSerialGC -Xmx192m -XX:+ExitOnOutOfMemoryError");

  /** A folder for each agent a test starts, for its socket. */
  @TempDir
  Path tmp;

  private AgentProcess agent(Map<String, String> extra) throws Exception {
    Path dir = Files.createTempDirectory(tmp, "budget");
    Map<String, String> env = new java.util.HashMap<>(AGENT_HEAP);
    env.putAll(extra);
    return AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0", "--listen",
        "unix:" + dir.resolve("agent.sock")), env).awaitReady();
  }

  private static String address(AgentProcess a, String transport) {
    return transport.equals("tcp") ? a.tcp() : a.unix();
  }

  /**
   * 24 hosts each ask for 16 answers of 1.4 MB and read none: 540 MB of answers, far more than
   * the heap. Without a budget over all connections no host is let go and the agent's event loop
   * stalls in garbage collection. With it, reads past the budget are answered Busy, the hosts that
   * hold the most and have not read for 5 s are closed, the agent stays, and a fresh host is
   * answered. Every answer that arrives is whole.
   */
  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void hostsThatStopReadingAreClosedWithinTheWriteQueueBudget(String transport)
      throws Exception {
    try (AgentProcess agent = agent(Map.of("AGENT_WRITE_STALL_TIMEOUT_MS", "600000"))) {
      Path file = agent.dir().resolve("one-mebibyte");
      byte[] content = new byte[1024 * 1024];
      new Random(3).nextBytes(content);
      Files.write(file, content);
      int hosts = 24;
      int reads = 16;
      List<AgentConnection> offenders = new ArrayList<>();
      try {
        for (int h = 0; h < hosts; h++) {
          AgentConnection c = AgentConnection.open(address(agent, transport));
          offenders.add(c);
          for (int i = 0; i < reads; i++) {
            c.send(new JsonObject().put("id", "r" + i).put("type", "read_file")
                .put("path", file.toString()));
          }
        }
        try {
          Poll.until("hosts that do not read are closed at the budget", 60_000, () -> agent.log()
              .stream().anyMatch(l -> l.contains("host_not_reading")
                  && l.contains("write queue budget")));
        } catch (AssertionError e) {
          List<String> log = agent.log();
          throw new AssertionError(String.join("\n", log.subList(Math.max(0, log.size() - 40),
              log.size())), e);
        }
        try (AgentConnection fresh = AgentConnection.open(address(agent, transport))) {
          assertEquals(0, fresh.call(new JsonObject().put("id", "p").put("type", "ping"))
              .getInteger("exit_code"));
        }
        int closed = 0;
        for (AgentConnection c : offenders) {
          int answers = 0;
          try {
            for (; answers < reads; answers++) {
              JsonObject r = c.receive();
              if (r.getString("error") != null) {
                // Read while the budget was spent by answers still waiting for their hosts.
                assertEquals("Busy: memory for answers on their way to hosts (over all "
                    + "connections)", r.getString("error"));
              } else {
                assertEquals(content.length, Base64.getDecoder().decode(
                    r.getString("content_base64")).length, "an answer came whole");
              }
            }
          } catch (IOException e) {
            // Closed: it got what was written before the close, each answer whole.
            closed++;
          }
        }
        assertTrue(closed > 0, "no host was closed");
        // Once the hosts have read or gone, the budget is whole again.
        try (AgentConnection fresh = AgentConnection.open(address(agent, transport))) {
          JsonObject r = fresh.call(new JsonObject().put("id", "f").put("type", "read_file")
              .put("path", file.toString()));
          assertEquals(content.length, Base64.getDecoder().decode(
              r.getString("content_base64")).length, r::encode);
        }
        assertTrue(agent.process().isAlive(), () -> String.join("\n", agent.log()));
      } finally {
        for (AgentConnection c : offenders) {
          c.close();
        }
      }
    }
  }

  private static JsonObject runWithStdin(String id, String stdin, String... argv) {
    return new JsonObject().put("id", id).put("type", "run")
        .put("command", new JsonArray(List.of((Object[]) argv))).put("stdin_base64", stdin);
  }

  /**
   * Runs that do not read their stdin hold their request (4 MiB of stdin each) until answered.
   * Over all connections, the requests being served stay within request_budget_bytes: past it a
   * request is answered Busy at once, and once a run ends its bytes serve the next request.
   */
  @Test
  void requestsBeingServedStayWithinTheirBudgetOverAllConnections() throws Exception {
    try (AgentProcess agent = agent(Map.of("AGENT_REQUEST_BUDGET_BYTES",
        Long.toString(12L * 1024 * 1024)))) {
      String stdin = Base64.getEncoder().encodeToString(new byte[4 * 1024 * 1024]);
      String tag = "300." + ThreadLocalRandom.current().nextInt(1_000_000);
      List<AgentConnection> conns = new ArrayList<>();
      try {
        // Two frames of 5.6 MB fit 12 MiB; each is in service once its process runs.
        for (int i = 0; i < 2; i++) {
          AgentConnection c = AgentConnection.open(agent.unix());
          conns.add(c);
          String[] argv = {"sleep", tag + i};
          c.send(runWithStdin("held" + i, stdin, argv));
          Poll.until("run " + i + " is in service", 30_000, () -> Procs.running(argv));
        }
        try (AgentConnection third = AgentConnection.open(agent.tcp())) {
          JsonObject busy = third.call(runWithStdin("third", stdin, "sleep", tag + "2"));
          assertEquals("Busy: memory for requests being served (max 12582912 bytes over all "
              + "connections)", busy.getString("error"), busy::encode);
          assertTrue(!Procs.running("sleep", tag + "2"), "the refused run did not start");
          // A small request still fits beside them.
          assertEquals(0, third.call(new JsonObject().put("id", "s").put("type", "run")
              .put("command", new JsonArray().add("true"))).getInteger("exit_code"));
          // The first host goes: its run is killed and its request's bytes are free again.
          conns.remove(0).close();
          Poll.until("the closed host's run is killed", 30_000,
              () -> !Procs.running("sleep", tag + "0"));
          JsonObject served = third.call(runWithStdin("now", stdin, "/bin/sh", "-c",
              "wc -c"));
          assertEquals(0, served.getInteger("exit_code"), served::encode);
          assertEquals(Integer.toString(4 * 1024 * 1024), served.getString("stdout").trim());
        }
        assertTrue(agent.process().isAlive());
      } finally {
        for (AgentConnection c : conns) {
          c.close();
        }
      }
    }
  }

  /**
   * 200 streamed runs in flight at once, as bin/bench's load has, under bin/agent's heap: none is
   * refused (max_runs stays 256), and each stream arrives whole although the buffers of all of
   * them share run_stream_budget_bytes (a run that finds it spent is read more slowly, never cut).
   */
  @Test
  void twoHundredStreamedRunsInFlightAreServedWhole() throws Exception {
    try (AgentProcess agent = agent(Map.of())) {
      int perConnection = 50;
      int connections = 4;
      int bytes = 300_000;
      ExecutorService pool = Executors.newFixedThreadPool(connections);
      try {
        List<Future<String>> results = new ArrayList<>();
        for (int k = 0; k < connections; k++) {
          results.add(pool.submit(() -> {
            try (AgentConnection c = AgentConnection.open(agent.unix())) {
              for (int i = 0; i < perConnection; i++) {
                // Each run stays until all have started, so that 200 are in flight together.
                c.send(new JsonObject().put("id", "s" + i).put("type", "run").put("stream", true)
                    .put("command", new JsonArray().add("/bin/sh").add("-c")
                        .add("head -c " + bytes + " /dev/zero; sleep 3")));
              }
              long[] got = new long[perConnection];
              int answered = 0;
              StringBuilder problems = new StringBuilder();
              while (answered < perConnection) {
                JsonObject r = c.receive();
                int i = Integer.parseInt(r.getString("id").substring(1));
                if (r.getString("stream") != null) {
                  got[i] += Base64.getDecoder().decode(r.getString("output_base64")).length;
                } else {
                  answered++;
                  if (r.getInteger("exit_code") == null || r.getInteger("exit_code") != 0
                      || got[i] != bytes) {
                    problems.append(r.encode()).append(" after ").append(got[i]).append('\n');
                  }
                }
              }
              return problems.toString();
            }
          }));
        }
        for (Future<String> f : results) {
          assertEquals("", f.get(180, TimeUnit.SECONDS));
        }
      } finally {
        pool.shutdownNow();
      }
      assertTrue(agent.process().isAlive());
    }
  }
}
