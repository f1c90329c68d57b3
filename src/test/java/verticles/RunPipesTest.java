package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import support.AgentProcess;

/**
 * A run's pipes, read by the event loop that started the run ("loop", the default) or by the
 * reactor thread ({@code -Dagent.pipes.on_loop.off=true}): both give whole, ordered output on
 * runs in flight together, take stdin, end a streamed run, and answer a run whose pipe is held by
 * something it left running.
 */
class RunPipesTest {
  private static final int RUNS = 24;

  @ParameterizedTest
  @ValueSource(strings = {"loop", "reactor"})
  void outputInputStreamsAndLeftoversAreServedAlike(String where, @TempDir Path dir)
      throws Exception {
    List<String> jvm = where.equals("reactor")
        ? List.of("-Dagent.pipes.on_loop.off=true") : List.of();
    try (AgentProcess agent = AgentProcess.launchWrapped(dir, List.of(), jvm,
        List.of("--listen", "unix:" + dir.resolve("agent.sock")), Map.of()).awaitReady()) {
      // Runs in flight together, each on its own connection (so on both event loops), each
      // with stdout and stderr written in turns.
      List<AgentConnection> cs = new ArrayList<>();
      try {
        for (int i = 0; i < RUNS; i++) {
          AgentConnection c = AgentConnection.open(agent.unix());
          cs.add(c);
          c.send(run("r" + i, "sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo out$i; "
              + "echo err$i >&2; i=$((i+1)); done; exit " + (i % 7)));
        }
        StringBuilder out = new StringBuilder();
        StringBuilder err = new StringBuilder();
        for (int k = 0; k < 2000; k++) {
          out.append("out").append(k).append('\n');
          err.append("err").append(k).append('\n');
        }
        for (int i = 0; i < RUNS; i++) {
          JsonObject r = cs.get(i).receive();
          assertEquals("r" + i, r.getString("id"), r::encode);
          assertEquals(i % 7, r.getInteger("exit_code"), r::encode);
          assertEquals(out.toString(), r.getString("stdout"), "stdout of r" + i);
          assertEquals(err.toString(), r.getString("stderr"), "stderr of r" + i);
        }
      } finally {
        for (AgentConnection c : cs) {
          c.close();
        }
      }
      try (AgentConnection c = AgentConnection.open(agent.unix())) {
        // Input, more than a pipe holds at once.
        byte[] in = new byte[300_000];
        JsonObject counted = c.call(run("in", "wc", "-c")
            .put("stdin_base64", Base64.getEncoder().encodeToString(in)));
        assertEquals("300000", counted.getString("stdout").trim(), counted::encode);
        // A streamed run: its chunks, then its end.
        c.send(run("s", "sh", "-c", "echo a; echo b >&2; echo c").put("stream", true));
        Map<String, StringBuilder> streamed = Map.of("stdout", new StringBuilder(),
            "stderr", new StringBuilder());
        JsonObject m;
        while (!(m = c.receive()).containsKey("exit_code")) {
          streamed.get(m.getString("stream")).append(new String(
              Base64.getDecoder().decode(m.getString("output_base64")),
              StandardCharsets.UTF_8));
        }
        assertEquals(0, m.getInteger("exit_code"), m::encode);
        assertEquals("a\nc\n", streamed.get("stdout").toString());
        assertEquals("b\n", streamed.get("stderr").toString());
        // A process left running holds the pipe: the run is answered all the same, after the
        // grace, and the leftover is ended with it.
        JsonObject left = c.call(run("bg", "sh", "-c", "sleep 60 & echo started")
            .put("kill_leftovers", true));
        assertEquals(0, left.getInteger("exit_code"), left::encode);
        assertEquals("started\n", left.getString("stdout"), left::encode);
      }
      String marker = where.equals("loop") ? "on=event_loop" : "on=reactor";
      agent.awaitLog("a run_pipes line with " + marker,
          l -> l.contains("run_pipes") && l.contains(marker));
    }
  }

  private static JsonObject run(String id, String... command) {
    return new JsonObject().put("id", id).put("type", "run")
        .put("command", new JsonArray(List.of((Object[]) command)));
  }
}
