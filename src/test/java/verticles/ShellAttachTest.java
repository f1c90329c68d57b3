package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static verticles.ShellEventsTest.HANG;

import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import support.SharedAgent;
import verticles.ShellEventsTest.Host;
import verticles.ShellEventsTest.Output;

/**
 * {@code shell_attach} sent the way careless hosts send it: again by the connection that already
 * receives, while the session is still starting, and at the moment another connection closes
 * the session. Whoever is answered that it attached gets the output once, in order, and then
 * {@code exited}.
 */
class ShellAttachTest {
  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  @Test
  void theReceiverAttachingAgainGetsNothingTwice() throws Exception {
    try (Host a = Host.open(agent.unix())) {
      String sid = a.startShell(Host.shell("s", "seq", "1", "200000"));
      // A host that retries its attach while the output flows.
      for (int i = 0; i < 20; i++) {
        a.send(Host.attach("a" + i, sid));
      }
      Output out = a.collect(sid);
      assertEquals(0, out.exitCode);
      String[] lines = out.text().split("\r\n", -1);
      for (int i = 0; i < Math.min(lines.length, 200_000); i++) {
        if (!lines[i].equals(Integer.toString(i + 1))) {
          fail("line " + (i + 1) + " is '" + lines[i] + "' (" + out.bytes.length + " bytes in all)");
        }
      }
      assertEquals(200_001, lines.length, "200000 lines and the empty rest after the last");
      for (int i = 0; i < 20; i++) {
        assertEquals(0, a.nextFor("a" + i, HANG).getInteger("exit_code"));
      }
      a.call(Host.close("c", sid));
    }
  }

  @Test
  void anAttachWhileTheSessionStartsMakesTheAttacherTheReceiver() throws Exception {
    for (int round = 0; round < 10; round++) {
      try (Host a = Host.open(agent.unix()); Host b = Host.open(agent.unix())) {
        String script = "read x; seq 1 20000; : " + round;
        a.send(Host.shell("s", "sh", "-c", script));
        // The session is listed as soon as its id is known, before it has started.
        String sid = null;
        while (sid == null) {
          JsonObject r = b.call(new JsonObject().put("id", "ls").put("type", "list_sessions"));
          for (Object o : r.getJsonArray("sessions")) {
            JsonObject s = (JsonObject) o;
            if (s.getJsonArray("command").getString(2).equals(script)) {
              sid = s.getString("session_id");
            }
          }
        }
        assertEquals(0, b.call(Host.attach("at", sid)).getInteger("exit_code"));
        assertEquals(Host.ok("in"), b.call(Host.input("in", sid, "go\n")));
        Output out = b.collect(sid);
        assertEquals(0, out.exitCode);
        assertTrue(out.text().endsWith("19999\r\n20000\r\n"), "round " + round);
        // The starter was answered, then stopped receiving: nothing of the output came to it.
        assertEquals(sid, a.started("s"));
        a.send(Host.ping("p"));
        assertEquals(Host.ok("p"), a.nextFor("p", HANG));
        assertTrue(a.nothingElse(), "round " + round + ": the starter took the session back");
        b.call(Host.close("c", sid));
      }
    }
  }

  @Test
  void anAttachAnsweredAsACloseEndsTheSessionIsFollowedByExited() throws Exception {
    int attached = 0;
    for (int round = 0; round < 30; round++) {
      try (Host a = Host.open(agent.unix()); Host b = Host.open(agent.unix())) {
        String sid = a.startShell(Host.shell("s", "sh", "-c", "echo hi; exit 7"));
        assertEquals(7, a.collect(sid).exitCode);
        a.send(Host.close("c", sid));
        b.send(Host.attach("at", sid));
        JsonObject answer = b.nextFor("at", HANG);
        if (answer.getString("error") == null) {
          assertEquals(0, answer.getInteger("exit_code"), answer::encode);
          attached++;
          assertEquals(Host.exited("s", sid, 7), b.take(
              f -> "exited".equals(f.getString("shell_event")), HANG), "round " + round);
        } else {
          assertNotNull(answer.getString("error"));
          assertTrue(answer.getString("error").contains("Session not found"), answer::encode);
        }
        assertEquals(Host.exited("c", sid, 7), a.nextFor("c", HANG));
      }
    }
    System.out.printf("attaches answered before the close took the session: %d of 30%n",
        attached);
  }
}
