package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ProtocolSupport.assertError;
import static verticles.ProtocolSupport.req;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import support.SharedAgent;

/**
 * NUL in arguments, environment and cwd, and environment names that are empty or hold {@code =},
 * are refused with {@code Invalid request: ...} for run and shell, on TCP and Unix; nothing is
 * started.
 */
class InputValidationTest {
  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  private static List<JsonObject> bad(String type) {
    JsonArray cmd = new JsonArray().add("/bin/echo").add("ok");
    return List.of(
        req("nul-arg", type).put("command", new JsonArray().add("/bin/echo").add("a\u0000b")
            .add("c")),
        req("nul-cwd", type).put("command", cmd).put("cwd", "/tmp\u0000/etc"),
        req("eq-name", type).put("command", cmd).put("env",
            new JsonObject().put("PATH=/nowhere", "x")),
        req("empty-name", type).put("command", cmd).put("env", new JsonObject().put("", "x")),
        req("nul-name", type).put("command", cmd).put("env", new JsonObject().put("A\u0000B", "x")),
        req("nul-value", type).put("command", cmd).put("env",
            new JsonObject().put("A", "x\u0000y")));
  }

  @Test
  void runAndShellRefuseOverTcp() throws Exception {
    refusesAll(agent.tcp());
  }

  @Test
  void runAndShellRefuseOverUnix() throws Exception {
    refusesAll(agent.unix());
  }

  private static void refusesAll(String address) throws Exception {
    try (AgentConnection c = AgentConnection.open(address)) {
      for (String type : List.of("run", "shell")) {
        for (JsonObject r : bad(type)) {
          assertError(r.getString("id"), "Invalid request: ", c.call(r));
        }
      }
      // No session was started by any of them.
      assertEquals(0, c.call(req("l", "list_sessions")).getJsonArray("sessions").size());
      // And what is valid still runs: '=' in a value, an empty value.
      JsonObject ran = c.call(req("fine", "run").put("command", new JsonArray().add("/bin/sh")
          .add("-c").add("printf '%s|%s' \"$A\" \"$B\"")).put("env",
          new JsonObject().put("A", "x=y").put("B", "")));
      assertEquals("x=y|", ran.getString("stdout"));
    }
  }

  @Test
  void anEmptyCwdIsNamedAsTheProblem() throws Exception {
    try (AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject r = c.call(req("r", "run").put("command", new JsonArray().add("ls"))
          .put("cwd", ""));
      assertError("r", "Failed to run command: cwd : ", r);
      JsonObject s = c.call(req("s", "shell").put("command", new JsonArray().add("/bin/sh"))
          .put("cwd", ""));
      assertError("s", "Failed to start shell: No such directory", s);
    }
  }

  @Test
  void aLoneSurrogateIsAnsweredAsInvalidAndStartsNothing() throws Exception {
    try (AgentConnection c = AgentConnection.open(agent.unix())) {
      for (String json : List.of(
          "{\"id\":\"c\",\"type\":\"run\",\"command\":[\"ls\"],\"cwd\":\"/tmp/\\ud800\"}",
          "{\"id\":\"a\",\"type\":\"run\",\"command\":[\"echo\",\"/tmp/\\ud800\"]}",
          "{\"id\":\"s\",\"type\":\"shell\",\"command\":[\"\\ud800\"]}",
          "{\"id\":\"f\",\"type\":\"stat\",\"path\":\"/tmp/\\udfff\"}")) {
        c.writeFrame(json.getBytes(StandardCharsets.UTF_8));
        JsonObject r = c.receive();
        assertTrue(r.getString("error", "").startsWith("Invalid request: "), r::encode);
      }
      assertEquals(0, c.call(req("l", "list_sessions")).getJsonArray("sessions").size());
    }
  }
}
