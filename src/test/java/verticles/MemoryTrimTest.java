package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;
import support.Poll;

/**
 * The start, then a burst of runs, each followed by quiet: after each the agent hands the C
 * library's free memory back once, on a thread that then ends, and after the burst its RSS
 * falls. The quiet time is 300 ms here instead of 10 s.
 */
class MemoryTrimTest {
  private static final Pattern TRIMMED =
      Pattern.compile("memory_trimmed rss_before_kib=(\\d+) rss_after_kib=(\\d+)");
  /** More runs at once than the agent keeps native memory for (32), spread over connections. */
  private static final int BURST = 96;
  private static final int CONNECTIONS = 8;

  @Test
  void afterTheStartAndAfterABurstTheFreedMemoryGoesBackOnceTheAgentIsQuiet(@TempDir Path dir)
      throws Exception {
    try (AgentProcess agent = AgentProcess.launchWrapped(dir, List.of(),
        List.of("-Dagent.trim.quiet_ms=300"),
        List.of("--listen", "unix:" + dir.resolve("agent.sock")), Map.of()).awaitReady()) {
      String first = agent.awaitLog("the trim after the start", l -> l.contains("memory_trimmed"));
      List<AgentConnection> conns = new ArrayList<>();
      try {
        for (int i = 0; i < CONNECTIONS; i++) {
          conns.add(AgentConnection.open(agent.unix()));
        }
        // Every run waits until all have started, so that all are in flight at once.
        Path go = dir.resolve("go");
        String wait = "while [ ! -e " + go + " ]; do sleep 0.05; done";
        for (int i = 0; i < BURST; i++) {
          conns.get(i % CONNECTIONS).send(new JsonObject().put("id", "b" + i).put("type", "run")
              .put("command", new JsonArray().add("sh").add("-c").add(wait)));
        }
        Poll.until("all " + BURST + " runs started", 60_000,
            () -> support.Procs.children(agent.pid()).count() >= BURST);
        Files.createFile(go);
        for (int i = 0; i < BURST; i++) {
          JsonObject r = conns.get(i % CONNECTIONS).receive();
          assertEquals(0, r.getInteger("exit_code"), r::encode);
        }
      } finally {
        for (AgentConnection c : conns) {
          c.close();
        }
      }
      String line = agent.awaitLog("the trim after the burst",
          l -> l.contains("memory_trimmed") && !l.equals(first));
      Matcher m = TRIMMED.matcher(line);
      assertTrue(m.find(), line);
      long before = Long.parseLong(m.group(1));
      long after = Long.parseLong(m.group(2));
      assertTrue(before > 0 && after < before, line);
      // The trim's thread has ended.
      Poll.until("no memory-trim thread", 30_000, () -> threads(agent.pid()).stream()
          .noneMatch("memory-trim"::equals));
      assertEquals(2, agent.log().stream().filter(l -> l.contains("memory_trimmed")).count(),
          String.join("\n", agent.log()));
    }
  }

  /** The names of the agent's threads. */
  private static List<String> threads(long pid) {
    List<String> names = new ArrayList<>();
    try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
      for (Path t : (Iterable<Path>) tasks::iterator) {
        try {
          names.add(Files.readString(t.resolve("comm")).trim());
        } catch (java.io.IOException e) {
          // That thread has just ended.
        }
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return names;
  }
}
