package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;
import support.Poll;

/**
 * Runs whose connection closes while they start are each answered exactly once, even though
 * nobody is left to read the answer: the agent's own count of answered runs equals the number
 * sent, every run slot comes back exactly once, and no process is left. On TCP and Unix.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RunAnswersTest {
  private static final long SEED = Long.getLong("fuzz.seed", 0x5EEDL);
  private static final int ROUNDS = Integer.getInteger("answers.rounds", 100);
  private static final int MAX_RUNS = 4;
  private static final Pattern ANSWERED = Pattern.compile(
      "agent_requests_total\\{([^}]*)} (\\S+)");
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  /** A folder for each agent a test starts, for its socket. */
  @TempDir
  Path tmp;

  @Test
  void runsWhoseConnectionClosesWhileTheyStartAreAnsweredOnce() throws Exception {
    int[] port = new int[1];
    try (AgentProcess agent = startWithMetrics(port)) {
      Random rnd = new Random(SEED);
      String marker = Long.toString(1_000_000 + rnd.nextInt(1_000_000));
      int sent = 0;
      for (int round = 0; round < ROUNDS; round++) {
        String address = round % 2 == 0 ? agent.tcp() : agent.unix();
        try (AgentConnection c = AgentConnection.open(address)) {
          int n = 1 + rnd.nextInt(3);
          for (int i = 0; i < n; i++) {
            // Sleepers that outlive the connection unless killed, and quick ones.
            c.send(ProtocolSupport.run("r" + round + "-" + i, "/bin/sh", "-c",
                rnd.nextBoolean() ? "exec sleep " + marker : "true"));
            sent++;
          }
        }
      }
      int expected = sent;
      Poll.until("every run answered and its slot back", 60_000, () -> {
        double[] m = scrape(port[0]);
        return m[0] == expected && m[1] == 0;
      });
      double[] m = scrape(port[0]);
      assertEquals(expected, (int) m[0], "runs answered");
      Poll.until("no sleeper left", 30_000, () -> ProcessHandle.of(agent.pid()).orElseThrow()
          .descendants().noneMatch(p -> p.info().commandLine().orElse("").contains(marker)));
      assertSlotsCountedOnce(agent, port[0]);
    }
  }

  /**
   * All four run slots are free, and no more than four: a slot never given back would keep the
   * fourth sleeper out, and a slot given back twice would let a fifth run in.
   */
  private static void assertSlotsCountedOnce(AgentProcess agent, int port) throws Exception {
    try (AgentConnection c = AgentConnection.open(agent.tcp())) {
      for (int i = 0; i < MAX_RUNS; i++) {
        c.send(ProtocolSupport.run("s" + i, "/bin/sleep", "600"));
      }
      Poll.until("four runs active", 30_000, () -> scrape(port)[1] == MAX_RUNS);
      JsonObject fifth = c.call(ProtocolSupport.run("s" + MAX_RUNS, "/bin/true"));
      assertEquals("Busy: runs (max " + MAX_RUNS + ")", fifth.getString("error"), fifth::encode);
    }
    // Closing the connection ends the sleepers.
    Poll.until("the sleepers ended", 30_000, () -> scrape(port)[1] == 0);
  }

  /** {answered runs, runs active} as the agent counts them. */
  private static double[] scrape(int port) {
    try {
      String text = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
          + "/metrics")).GET().build(), HttpResponse.BodyHandlers.ofString()).body();
      double answered = 0;
      Matcher m = ANSWERED.matcher(text);
      while (m.find()) {
        if (m.group(1).contains("type=\"run\"")) {
          answered += Double.parseDouble(m.group(2));
        }
      }
      Matcher a = Pattern.compile("(?m)^agent_runs_active(\\{[^}]*})? (\\S+)").matcher(text);
      double active = a.find() ? Double.parseDouble(a.group(2)) : -1;
      return new double[] {answered, active};
    } catch (IOException | InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  private AgentProcess startWithMetrics(int[] port) throws Exception {
    for (int attempt = 1; ; attempt++) {
      try (ServerSocket s = new ServerSocket(0)) {
        port[0] = s.getLocalPort();
      }
      Path dir = Files.createTempDirectory(tmp, "run-answers");
      AgentProcess a = AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0",
          "--listen", "unix:" + dir.resolve("agent.sock"), "--metrics", "127.0.0.1:" + port[0]),
          Map.of("AGENT_MAX_RUNS", Integer.toString(MAX_RUNS)));
      try {
        return a.awaitReady();
      } catch (Exception e) {
        a.close();
        if (attempt == 3 || a.log().stream().noneMatch(l -> l.contains("cannot serve"))) {
          throw e;
        }
      }
    }
  }
}
