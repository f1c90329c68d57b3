package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ShellEventsTest.HANG;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import support.SharedAgent;
import verticles.ShellEventsTest.Host;

/**
 * Every shell request gets exactly one answer, whatever the session is doing when it arrives:
 * starting, blocked on input, closing, or gone. And input of any size a frame can carry is taken.
 * On TCP and Unix.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ShellAnswersTest {
  private static final long SEED = Long.getLong("fuzz.seed", 0x5EEDL);
  private static final int ROUNDS = Integer.getInteger("answers.rounds", 100);
  /** A terminal that takes no input: its buffer fills and writes to it block. */
  private static final String[] DEAF = {"/bin/sh", "-c", "stty raw -echo; echo READY; exec sleep 600"};

  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  @Test
  void inputQueuedWhenTheSessionStopsIsAnsweredOverTcp() throws Exception {
    inputQueuedWhenTheSessionStops(agent.tcp());
  }

  @Test
  void inputQueuedWhenTheSessionStopsIsAnsweredOverUnix() throws Exception {
    inputQueuedWhenTheSessionStops(agent.unix());
  }

  private static void inputQueuedWhenTheSessionStops(String address) throws Exception {
    try (Host h = Host.open(address)) {
      String sid = h.startShell(Host.shell("q", DEAF));
      h.awaitOutput(sid, "READY");
      // Far more than the terminal buffers: the first write blocks, the rest queue behind it.
      h.send(input("big", sid, new byte[512 * 1024]));
      for (int i = 0; i < 5; i++) {
        h.send(input("small" + i, sid, new byte[] {'x'}));
      }
      JsonObject closed = h.call(new JsonObject().put("id", "c").put("type", "shell_close")
          .put("session_id", sid));
      assertEquals("exited", closed.getString("shell_event"), closed::encode);
      for (String id : List.of("big", "small0", "small1", "small2", "small3", "small4")) {
        JsonObject r = h.nextFor(id, HANG);
        assertTrue(r.containsKey("exit_code") || r.getString("error")
            .startsWith("Failed to write to session: "), r::encode);
      }
      assertInFlightSlotsFree(h);
      assertNoSecondAnswer(h, Set.of("big", "small0", "small1", "small2", "small3", "small4",
          "c"));
    }
  }

  @Test
  void inputAfterTheProgramExitedIsAnsweredAtOnce() throws Exception {
    try (Host h = Host.open(agent.unix())) {
      String sid = h.startShell(Host.shell("x", "/bin/sh", "-c", "exit 4"));
      assertEquals(4, h.collect(sid).exitCode);
      // Nobody reads the terminal any more: it would take a few KiB, then never answer.
      for (int i = 0; i < 8; i++) {
        JsonObject r = h.call(input("in" + i, sid, new byte[4096]));
        assertEquals("Failed to write to session: the session's program has exited (4)",
            r.getString("error"), r::encode);
      }
      JsonObject closed = h.call(new JsonObject().put("id", "c").put("type", "shell_close")
          .put("session_id", sid));
      assertEquals(4, closed.getInteger("exit_code"), closed::encode);
    }
  }

  @Test
  void inputLargerThanTheBacklogOfInputIsTakenWhenNothingWaits() throws Exception {
    for (String address : List.of(agent.tcp(), agent.unix())) {
      try (Host h = Host.open(address)) {
        int n = 7 * 1024 * 1024;
        String sid = h.startShell(Host.shell("big", "/bin/sh", "-c",
            "stty raw -echo; echo READY; head -c " + n + " | wc -c"));
        h.awaitOutput(sid, "READY");
        byte[] data = new byte[n];
        java.util.Arrays.fill(data, (byte) 'a');
        h.send(input("in", sid, data));
        JsonObject r = h.nextFor("in", HANG);
        assertEquals(0, r.getInteger("exit_code"), r::encode);
        h.awaitOutput(sid, Integer.toString(n));
        h.call(new JsonObject().put("id", "c").put("type", "shell_close").put("session_id", sid));
      }
    }
  }

  /**
   * Input and resize go straight to the address their session id names; an id made to look like
   * another of a session's addresses names no session, and the session itself is untouched.
   */
  @Test
  void aSessionIdNamesNothingButASessionsRequests() throws Exception {
    try (Host h = Host.open(agent.unix())) {
      String sid = h.startShell(Host.shell("s", "/bin/cat"));
      for (String other : List.of("ack." + sid, "receiver." + sid, "in." + sid, sid + ".ack",
          "../" + sid, "")) {
        assertEquals(new JsonObject().put("id", "i")
                .put("error", "Failed to write to session: Session not found: " + other),
            h.call(Host.input("i", other, "x")));
        assertEquals(new JsonObject().put("id", "r")
                .put("error", "Failed to resize session: Session not found: " + other),
            h.call(Host.resize("r", other, 30, 90)));
      }
      assertEquals(Host.ok("in"), h.call(Host.input("in", sid, "still here\n")));
      h.awaitOutput(sid, "still here");
      assertEquals(Host.exited("c", sid, 129), h.call(Host.close("c", sid)));
    }
  }

  @Test
  void closingAtRandomMomentsLeavesNoRequestUnansweredOverTcp() throws Exception {
    closingAtRandomMoments(agent.tcp(), new Random(SEED));
  }

  @Test
  void closingAtRandomMomentsLeavesNoRequestUnansweredOverUnix() throws Exception {
    closingAtRandomMoments(agent.unix(), new Random(SEED + 1));
  }

  /**
   * Each round starts a session, then sends input (some of it large enough to block on a
   * terminal that does not read), resizes, attaches and one or two closes in a random order,
   * pipelined, sometimes before the session has even answered that it started (its id taken from
   * list_sessions). Every id must be answered once, and only once, with a well-formed answer.
   */
  private static void closingAtRandomMoments(String address, Random rnd) throws Exception {
    Map<String, Integer> answers = new HashMap<>();
    Set<String> expected = new LinkedHashSet<>();
    try (Host h = Host.open(address)) {
      for (int round = 0; round < ROUNDS; round++) {
        String p = "r" + round + "-";
        String[] command = rnd.nextBoolean() ? DEAF : new String[] {"/bin/cat"};
        h.send(Host.shell(p + "shell", command));
        expected.add(p + "shell");
        String sid;
        if (rnd.nextBoolean()) {
          // Learn the id while the session may still be starting.
          h.send(new JsonObject().put("id", p + "list").put("type", "list_sessions"));
          JsonArray sessions = h.nextFor(p + "list", HANG).getJsonArray("sessions");
          sid = sessions.getJsonObject(sessions.size() - 1).getString("session_id");
        } else {
          sid = h.started(p + "shell");
          count(answers, p + "shell");
        }
        int n = 3 + rnd.nextInt(10);
        int closeAt = rnd.nextInt(n);
        for (int i = 0; i < n; i++) {
          String id = p + i;
          expected.add(id);
          JsonObject r;
          if (i == closeAt || rnd.nextInt(12) == 0) {
            r = new JsonObject().put("type", "shell_close").put("session_id", sid);
          } else {
            r = switch (rnd.nextInt(3)) {
              case 0 -> input(id, sid, new byte[rnd.nextInt(4) == 0 ? 200_000 : 1 + rnd.nextInt(64)]);
              case 1 -> new JsonObject().put("type", "shell_resize").put("session_id", sid)
                  .put("rows", 10 + rnd.nextInt(50)).put("cols", 10 + rnd.nextInt(200));
              default -> new JsonObject().put("type", "shell_attach").put("session_id", sid);
            };
          }
          h.send(r.put("id", id));
        }
        // Read until every id of the round is answered; later frames are counted too.
        while (!answers.keySet().containsAll(expected)) {
          take(h, answers, expected);
        }
      }
      assertInFlightSlotsFree(h);
      // Whatever came late has arrived by now; nothing may have been answered twice.
      while (!h.nothingElse()) {
        take(h, answers, expected);
      }
      for (String id : expected) {
        assertEquals(1, answers.get(id), "answers to " + id);
      }
      JsonArray left = h.call(new JsonObject().put("id", "left").put("type", "list_sessions"))
          .getJsonArray("sessions");
      assertEquals(0, left.size(), left::encode);
    }
  }

  /** Takes one frame and counts it if it answers one of the requests. */
  private static void take(Host h, Map<String, Integer> answers, Set<String> expected)
      throws InterruptedException {
    JsonObject f = h.next(HANG);
    String id = f.getString("id");
    String ev = f.getString("shell_event");
    if (id.endsWith("shell") && ("output".equals(ev) || "exited".equals(ev))) {
      return; // an event of a session, not an answer
    }
    if (!expected.contains(id) && !id.startsWith("ping")) {
      throw new AssertionError("answer to an unknown id: " + f.encode());
    }
    if (f.containsKey("error")) {
      String e = f.getString("error");
      assertFalse(e.startsWith("Internal error"), f::encode);
      assertFalse(e.startsWith("Busy"), f::encode);
      assertTrue(e.startsWith("Failed to "), f::encode);
      assertFalse(f.containsKey("exit_code"), f::encode);
    }
    count(answers, id);
  }

  private static void count(Map<String, Integer> answers, String id) {
    answers.merge(id, 1, Integer::sum);
  }

  /** All 64 request slots of the connection are free: 64 pings at once are all answered 0. */
  static void assertInFlightSlotsFree(Host h) throws Exception {
    for (int i = 0; i < 64; i++) {
      h.send(new JsonObject().put("id", "ping" + i).put("type", "ping"));
    }
    for (int i = 0; i < 64; i++) {
      JsonObject r = h.nextFor("ping" + i, HANG);
      assertEquals(0, r.getInteger("exit_code"), r::encode);
    }
  }

  private static void assertNoSecondAnswer(Host h, Set<String> ids) throws Exception {
    JsonObject last = h.call(new JsonObject().put("id", "last").put("type", "ping"));
    assertEquals(0, last.getInteger("exit_code"));
    while (!h.nothingElse()) {
      JsonObject f = h.next(Duration.ofSeconds(1));
      assertFalse(ids.contains(f.getString("id")) && !"output".equals(f.getString("shell_event")),
          () -> "second answer " + f.encode());
    }
  }

  private static JsonObject input(String id, String sid, byte[] data) {
    return new JsonObject().put("id", id).put("type", "shell_input").put("session_id", sid)
        .put("input_base64", Base64.getEncoder().encodeToString(data));
  }
}
