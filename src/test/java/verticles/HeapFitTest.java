package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;

/**
 * With the heap bin/agent gives (-Xmx192m), the agent's limits together fit it: the defaults are
 * scaled down and said so in the log, the byte budgets before the counts (256 runs and 64
 * sessions stay), and a value set explicitly that cannot fit is refused.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HeapFitTest {
  private static final Map<String, String> AGENT_HEAP = Map.of("JAVA_TOOL_OPTIONS",
      "-XX:+UseSerialGC -Xmx192m");

  @Test
  void theDefaultsFitTheHeapOfBinAgent(@TempDir Path dir) throws Exception {
    try (AgentProcess agent = AgentProcess.launch(dir, List.of("--listen",
        "unix:" + dir.resolve("agent.sock")), AGENT_HEAP).awaitReady()) {
      Matcher m = agent.log().stream().map(Pattern.compile(
          "memory_plan heap_bytes=(\\d+) worst_case_bytes=(\\d+)")::matcher)
          .filter(Matcher::find).findFirst().orElseThrow(() -> new AssertionError(agent.log()));
      long heap = Long.parseLong(m.group(1));
      long worst = Long.parseLong(m.group(2));
      assertTrue(heap <= 192L * 1024 * 1024, "heap " + heap);
      assertTrue(worst <= heap, worst + " > " + heap);
      try (AgentConnection c = AgentConnection.open(agent.unix())) {
        JsonObject limits = c.call(new JsonObject().put("id", "i").put("type", "info"))
            .getJsonObject("info").getJsonObject("limits");
        // The scaled limits are the ones in force, and the host can see them.
        long sum = limits.getLong("frame_budget_bytes")
            + 2 * limits.getLong("request_budget_bytes")
            + limits.getLong("write_queue_budget_bytes")
            + 2 * limits.getLong("run_output_budget_bytes")
            + (limits.getLong("max_runs") * 2 * 8 * 1024
                + limits.getLong("run_stream_budget_bytes")) * 7 / 3
            // each backlog may hold one terminal read (4 KiB) past its limit
            + limits.getLong("max_sessions") * (limits.getLong("shell_backlog_bytes") + 4096)
            + limits.getLong("max_sessions")
                * Math.min(limits.getLong("shell_backlog_bytes") + 4096, 256 * 1024) * 4 / 3
            // what each session keeps of its shell request (id and command)
            + limits.getLong("max_sessions") * 48 * 1024
            + 96L * 1024 * 1024;
        assertEquals(worst, sum, limits::encode);
        // The byte budgets gave way, not the counts a host feels.
        assertEquals(256, limits.getInteger("max_runs"), limits::encode);
        assertEquals(64, limits.getInteger("max_sessions"), limits::encode);
      }
    }
  }

  @Test
  void theShippedConfigurationStartsUnderBinAgentsHeap(@TempDir Path dir) throws Exception {
    try (AgentProcess agent = AgentProcess.launch(dir, List.of("--conf", "conf/agent.json",
        "--listen", "unix:" + dir.resolve("agent.sock")), AGENT_HEAP).awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      assertEquals(0, c.call(new JsonObject().put("id", "p").put("type", "ping"))
          .getInteger("exit_code"));
    }
  }

  @Test
  void anExplicitValueThatCannotFitIsRefused(@TempDir Path dir) throws Exception {
    Map<String, String> env = new java.util.HashMap<>(AGENT_HEAP);
    env.put("AGENT_RUN_OUTPUT_BUDGET_BYTES", Long.toString(1L << 30));
    try (AgentProcess agent = AgentProcess.launch(dir, List.of("--listen",
        "unix:" + dir.resolve("agent.sock")), env)) {
      assertEquals(2, agent.awaitExit(60), agent.log()::toString);
      support.Poll.until("the refusal names the key", 10_000, () -> agent.log().stream()
          .anyMatch(l -> l.contains("run_output_budget_bytes") && l.contains("heap")));
    }
  }
}
