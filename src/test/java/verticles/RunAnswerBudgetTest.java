package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static verticles.ProtocolSupport.req;

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
import support.Poll;

/**
 * A run's output stays counted against {@code run_output_budget_bytes} until the connection has
 * made its answer a frame, and is given back then: under a budget of 1 MiB, runs that each print
 * 900,000 bytes one after another (text and base64, TCP and Unix) all answer whole. A run that
 * floods and keeps running does not take the start of other runs' output.
 */
class RunAnswerBudgetTest {
  @Test
  void theBudgetComesBackOnceEachAnswerIsFramed(@TempDir Path dir) throws Exception {
    try (AgentProcess agent = AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0",
        "--listen", "unix:" + dir.resolve("agent.sock")),
        Map.of("AGENT_RUN_OUTPUT_BUDGET_BYTES", Integer.toString(1 << 20))).awaitReady()) {
      for (String address : List.of(agent.tcp(), agent.unix())) {
        try (AgentConnection c = AgentConnection.open(address)) {
          for (int i = 0; i < 8; i++) {
            JsonObject r = req("r" + i, "run").put("command", new JsonArray().add("/bin/sh")
                .add("-c").add("head -c 900000 /dev/zero | tr '\\0' x"));
            if (i % 2 == 1) {
              r.put("output_encoding", "base64");
            }
            JsonObject a = c.call(r);
            assertEquals(0, a.getInteger("exit_code"), a.encode().substring(0, 200));
            assertNull(a.getValue("stdout_truncated"), "run " + i + " on " + address);
            int n = i % 2 == 1 ? a.getBinary("stdout_base64").length
                : a.getString("stdout").length();
            assertEquals(900_000, n, "run " + i + " on " + address);
          }
        }
      }
    }
  }

  @Test
  void aFloodThatKeepsRunningLeavesOtherRunsTheStartOfTheirOutput(@TempDir Path dir)
      throws Exception {
    Path held = dir.resolve("held");
    try (AgentProcess agent = AgentProcess.launch(dir,
        List.of("--listen", "unix:" + dir.resolve("agent.sock")),
        Map.of("AGENT_RUN_OUTPUT_BUDGET_BYTES", Integer.toString(1 << 20))).awaitReady();
        AgentConnection flood = AgentConnection.open(agent.unix());
        AgentConnection c = AgentConnection.open(agent.unix())) {
      // Twice the budget on each stream: once the writes return, no more than a pipe's buffer
      // of each is unread, so the flood holds everything the budget lets it.
      flood.send(req("flood", "run").put("command", new JsonArray().add("/bin/sh").add("-c")
          .add("head -c 2097152 /dev/zero; head -c 2097152 /dev/zero >&2; : > '" + held
              + "'; exec sleep 61.75")));
      Poll.until("the flood has written its output", 60_000, () -> Files.exists(held));
      for (int i = 0; i < 8; i++) {
        JsonObject a = c.call(req("r" + i, "run").put("command", new JsonArray().add("/bin/sh")
            .add("-c").add("head -c 20000 /dev/zero | tr '\\0' x; echo run " + i + " >&2")));
        assertEquals(0, a.getInteger("exit_code"), a::encode);
        assertEquals(20_000, a.getString("stdout").length(), "run " + i + " kept its output");
        assertNull(a.getValue("stdout_truncated"), "run " + i);
        assertEquals("run " + i + "\n", a.getString("stderr"), "run " + i);
      }
      JsonObject big = c.call(req("big", "run").put("command", new JsonArray().add("/bin/sh")
          .add("-c").add("head -c 100000 /dev/zero | tr '\\0' x")));
      assertEquals(Boolean.TRUE, big.getValue("stdout_truncated"), "past its floor, the budget"
          + " the flood holds is spent");
      assertEquals(32 * 1024, big.getString("stdout").length(), "its floor");
    }
    // The agent is gone, and its runs with it.
    assertFalse(support.Procs.running("sleep", "61.75"), "the flood's process is gone");
  }
}
