package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import support.AgentProcess;

/**
 * Nothing is lost under load: 200 connections at once, each sending 20 runs, half on TCP and half
 * on the Unix socket. Every answer must be the right one, matched by id.
 */
class LoadTest {
  static final int CONNECTIONS = Integer.getInteger("load.connections", 200);
  static final int RUNS = Integer.getInteger("load.runs", 20);

  @Test
  void everyAnswerArrivesAndMatchesItsRequest() throws Exception {
    try (AgentProcess agent = AgentProcess.start().awaitReady()) {
      ExecutorService pool = Executors.newFixedThreadPool(CONNECTIONS);
      List<Future<Integer>> done = new ArrayList<>();
      for (int k = 0; k < CONNECTIONS; k++) {
        String address = k % 2 == 0 ? agent.tcp() : agent.unix();
        int conn = k;
        done.add(pool.submit(() -> {
          int ok = 0;
          try (AgentConnection c = AgentConnection.open(address)) {
            // One run in flight per connection: 200 at once stays under the default limit of
            // 256 concurrent runs, so every answer must be a result, never Busy.
            for (int i = 0; i < RUNS; i++) {
              String id = conn + "-" + i;
              JsonObject r = c.call(echo(id));
              assertEquals(id, r.getString("id"), r::encode);
              assertEquals(id + "\n", r.getString("stdout"), r::encode);
              assertEquals(0, r.getInteger("exit_code"), r::encode);
              ok++;
            }
          }
          return ok;
        }));
      }
      int total = 0;
      for (Future<Integer> f : done) {
        total += f.get(5, TimeUnit.MINUTES);
      }
      pool.shutdown();
      assertEquals(CONNECTIONS * RUNS, total);
    }
  }

  private static JsonObject echo(String id) {
    return new JsonObject().put("id", id).put("type", "run")
        .put("command", new JsonArray().add("/bin/echo").add(id));
  }
}
