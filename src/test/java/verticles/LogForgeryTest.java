package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;

/**
 * A request id is the host's to choose, and is logged before the token is checked. Ids that hold
 * line breaks, a forged log line and other controls, sent over TCP and Unix, never make a line of
 * their own: the log is checked line by line, in text and in JSON.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LogForgeryTest {
  private static final String FORGED_LINE = "2026-01-01T00:00:00Z ERROR forged";
  private static final List<String> IDS = List.of(
      "x\n" + FORGED_LINE,
      "x\n2026-01-01T00:00:00Z\tERROR\tforged",
      "x\r\n" + FORGED_LINE + " id=y",
      "x\r" + FORGED_LINE,
      "x\u2028" + FORGED_LINE,
      "x\u0085" + FORGED_LINE,
      "\u001b[2Jx\u0000\u0007\t\"quoted\" back\\slash=eq");
  private static final Pattern TEXT_LINE = Pattern.compile("\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z "
      + "(ERROR|WARN|INFO|DEBUG) [^ \"=\\\\]+( [^ \"=\\\\]+=([^ \"=\\\\]+|\"([^\"\\\\]|\\\\.)*\"))*");

  /** A folder for each agent a test starts, for its socket. */
  @TempDir
  Path tmp;

  @Test
  void forgedIdsStayInsideTheirTextLine() throws Exception {
    try (AgentProcess agent = start("text")) {
      sendForgedIds(agent);
      // Each forged id is logged at least twice (request, invalid_request), wholly escaped.
      support.Poll.until("every forged id in the log", 30_000, () -> IDS.stream().allMatch(
          id -> agent.log().stream().filter(l -> l.contains("id=" + textQuoted(id))).count()
              >= 4));
      for (String line : agent.log()) {
        assertFalse(line.startsWith("2026-01-01T00:00:00Z"), () -> "forged line: " + line);
        assertClean(line);
        assertTrue(TEXT_LINE.matcher(line).matches(), () -> "not one log line: " + line);
      }
    }
  }

  @Test
  void forgedIdsAreJsonStringsInTheJsonLog() throws Exception {
    try (AgentProcess agent = start("json")) {
      sendForgedIds(agent);
      support.Poll.until("every forged id in the log", 30_000, () -> IDS.stream().allMatch(
          id -> agent.log().stream().filter(l -> l.startsWith("{")
              && id.equals(new JsonObject(l).getString("id"))).count() >= 4));
      for (String line : agent.log()) {
        assertClean(line);
        JsonObject o = new JsonObject(line);
        assertTrue(o.getValue("time") instanceof String && o.getValue("event") instanceof String,
            () -> "not a log object: " + line);
      }
    }
  }

  private AgentProcess start(String format) throws Exception {
    Path dir = Files.createTempDirectory(tmp, "forgery");
    AgentProcess agent = AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0",
        "--listen", "unix:" + dir.resolve("agent.sock"), "--log-format", format,
        "--log-level", "debug"), Map.of());
    support.Poll.until("the agent is ready", 30_000, () -> agent.log().stream()
        .anyMatch(l -> l.contains("ready")));
    return agent;
  }

  /** The TCP and Unix addresses, read from the log in either format. */
  private static List<String> addresses(AgentProcess agent) {
    if (agent.addresses().size() == 2) {
      return List.of(agent.tcp(), agent.unix());
    }
    return agent.log().stream().filter(l -> l.contains("\"event\":\"listening\""))
        .map(l -> new JsonObject(l).getString("address")).toList();
  }

  /** Per transport and id: a ping (logged at debug) and one with no type (a warning). */
  private static void sendForgedIds(AgentProcess agent) throws Exception {
    List<String> addresses = addresses(agent);
    assertEquals(2, addresses.size(), addresses::toString);
    for (String address : addresses) {
      try (AgentConnection c = AgentConnection.open(address)) {
        for (String id : IDS) {
          assertEquals(0, c.call(ProtocolSupport.req(id, "ping")).getInteger("exit_code"));
          JsonObject bad = c.call(new JsonObject().put("id", id));
          assertEquals(id, bad.getString("id"));
          assertTrue(bad.getString("error").startsWith("Invalid request: "), bad::encode);
        }
      }
    }
  }

  private static String textQuoted(String id) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : id.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> b.append(c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028
            ? String.format("\\u%04x", (int) c) : String.valueOf(c));
      }
    }
    return b.append('"').toString();
  }

  private static void assertClean(String line) {
    for (int k = 0; k < line.length(); k++) {
      char c = line.charAt(k);
      assertFalse(c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029,
          "control U+" + Integer.toHexString(c) + " in " + line);
    }
  }
}
