package cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.pty4j.PtyProcess;
import com.pty4j.PtyProcessBuilder;
import com.pty4j.WinSize;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import support.SharedAgent;

/**
 * {@code agentctl shell} on a real terminal (a pty4j pseudo-terminal): it starts the remote
 * terminal at the local size, follows a resize, and leaves the local terminal as it found it.
 */
class InteractiveShellTest {
  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  /**
   * Where pty4j unpacks its native library in this JVM. Left to itself it unpacks it into a
   * folder of its own under /tmp, which stays there after the JVM exits.
   */
  @TempDir
  static Path ptyLibrary;

  @BeforeAll
  static void unpackPtyLibraryHere() {
    System.setProperty("pty4j.tmpdir", ptyLibrary.toString());
  }

  @AfterAll
  static void forgetPtyLibraryFolder() {
    System.clearProperty("pty4j.tmpdir");
  }

  /** Everything the terminal showed, decoded one byte per char. */
  static final class Screen {
    private final StringBuilder text = new StringBuilder();
    private boolean ended;

    Screen(InputStream in) {
      Thread t = new Thread(() -> {
        byte[] buf = new byte[8192];
        try {
          int n;
          while ((n = in.read(buf)) > 0) {
            append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
          }
        } catch (IOException e) {
          // The terminal closed.
        }
        end();
      }, "pty-screen");
      t.setDaemon(true);
      t.start();
    }

    private synchronized void append(String s) {
      text.append(s);
      notifyAll();
    }

    private synchronized void end() {
      ended = true;
      notifyAll();
    }

    synchronized int length() {
      return text.length();
    }

    synchronized String since(int from) {
      return text.substring(from);
    }

    /** Waits until the text after {@code from} matches; returns the end of the match, or -1. */
    synchronized int await(Pattern p, int from, long millis) throws InterruptedException {
      long deadline = System.currentTimeMillis() + millis;
      while (true) {
        Matcher m = p.matcher(text);
        if (m.find(from)) {
          return m.end();
        }
        long left = deadline - System.currentTimeMillis();
        if (left <= 0 || ended) {
          return -1;
        }
        wait(left);
      }
    }
  }

  @Test
  void followsTheLocalWindowAndRestoresTheTerminal() throws Exception {
    String script = "\"$0\" shell --env 'PS1=ctl-ready$ ' -- /bin/sh; code=$?;"
        + " echo; echo local-settings:; stty -a; echo \"agentctl-exit=$code\"";
    PtyProcess pty = new PtyProcessBuilder(new String[] {"/bin/sh", "-c", script,
        Ctl.LAUNCHER.toString()})
        .setEnvironment(withTerm(Ctl.env(agent.tcp())))
        .setInitialRows(30).setInitialColumns(100)
        .start();
    try {
      Screen screen = new Screen(pty.getInputStream());
      int at = screen.await(Pattern.compile("ctl-ready\\$ "), 0, 60_000);
      assertTrue(at > 0, () -> "no prompt: " + screen.since(0));

      type(pty, "stty size\r");
      at = screen.await(Pattern.compile("(?m)^30 100\\r?$"), at, 20_000);
      assertTrue(at > 0, () -> "the remote terminal did not start at 30x100: " + screen.since(0));

      pty.setWinSize(new WinSize(120, 40));
      // The resize travels by SIGWINCH and a request; ask until the remote side reports it.
      Pattern resized = Pattern.compile("(?m)^40 120\\r?$");
      int found = -1;
      for (int attempt = 0; attempt < 20 && found < 0; attempt++) {
        type(pty, "stty size\r");
        found = screen.await(resized, at, 1_000);
      }
      assertTrue(found > 0, () -> "the resize did not reach the remote: " + screen.since(0));

      type(pty, "exit 0\r");
      assertTrue(pty.waitFor(60, TimeUnit.SECONDS), "agentctl did not end");
      assertTrue(screen.await(Pattern.compile("agentctl-exit=\\d+"), found, 10_000) > 0);
      String after = screen.since(screen.since(0).lastIndexOf("local-settings:"));
      assertTrue(after.contains("agentctl-exit=0"), after);
      String settings = after.substring(0, after.indexOf("agentctl-exit="));
      assertTrue(Pattern.compile("(^|\\s)icanon(\\s|$)").matcher(settings).find(), settings);
      assertTrue(Pattern.compile("(^|\\s)echo(\\s|$)").matcher(settings).find(), settings);
      assertFalse(settings.contains("-icanon"), settings);
      assertEquals(0, pty.exitValue());
    } finally {
      pty.destroyForcibly();
    }
  }

  @Test
  void detachKeysLeaveTheSessionRunningAndAttachReturnsToIt() throws Exception {
    String script = "\"$0\" shell --env 'PS1=ctl-ready$ ' -- /bin/sh; code=$?;"
        + " echo; echo local-settings:; stty -a; echo \"agentctl-exit=$code\"";
    PtyProcess pty = new PtyProcessBuilder(new String[] {"/bin/sh", "-c", script,
        Ctl.LAUNCHER.toString()})
        .setEnvironment(withTerm(Ctl.env(agent.tcp())))
        .setInitialRows(30).setInitialColumns(100)
        .start();
    String id;
    try {
      Screen screen = new Screen(pty.getInputStream());
      int at = screen.await(Pattern.compile("ctl-ready\\$ "), 0, 60_000);
      assertTrue(at > 0, () -> "no prompt: " + screen.since(0));
      type(pty, "kept=$((6*7)); echo \"marker-$kept\"\r");
      at = screen.await(Pattern.compile("marker-42"), at, 20_000);
      assertTrue(at > 0, () -> "no answer: " + screen.since(0));

      // Ctrl-P then anything else is typed as it is: Ctrl-P Ctrl-U clears the line for sh.
      type(pty, "\u0010\u0015");
      type(pty, "\u0010\u0011");
      Pattern detached = Pattern.compile("agentctl: detached from session (\\S+); it keeps"
          + " running\\. Return with: agentctl attach (\\S+)\\r?\\n");
      int end = screen.await(detached, at, 20_000);
      assertTrue(end > 0, () -> "no detach message: " + screen.since(0));
      assertTrue(pty.waitFor(60, TimeUnit.SECONDS), "agentctl did not end");
      assertEquals(0, pty.exitValue());
      Matcher m = detached.matcher(screen.since(0));
      assertTrue(m.find());
      id = m.group(1);
      assertEquals(id, m.group(2));
      assertTrue(screen.await(Pattern.compile("agentctl-exit=\\d+"), end, 10_000) > 0);
      String after = screen.since(screen.since(0).lastIndexOf("local-settings:"));
      assertTrue(after.contains("agentctl-exit=0"), after);
      String settings = after.substring(0, after.indexOf("agentctl-exit="));
      assertTrue(Pattern.compile("(^|\\s)icanon(\\s|$)").matcher(settings).find(), settings);
      assertTrue(Pattern.compile("(^|\\s)echo(\\s|$)").matcher(settings).find(), settings);
    } finally {
      pty.destroyForcibly();
    }

    // The session kept running.
    Ctl.Result list = Ctl.run(agent.tcp(), null, "sessions");
    assertTrue(list.out().contains(id + "  running"), list::toString);

    // Attach again, with other detach keys: the shell remembers, and its status is ours.
    PtyProcess again = new PtyProcessBuilder(new String[] {Ctl.LAUNCHER.toString(), "attach",
        "--detach-keys", "ctrl-x", id})
        .setEnvironment(withTerm(Ctl.env(agent.tcp())))
        .setInitialRows(30).setInitialColumns(100)
        .start();
    try {
      Screen screen = new Screen(again.getInputStream());
      // Typed at once: the terminal holds the keys until agentctl reads them (a local echo
      // would show $kept, not its value).
      type(again, "echo \"still-$kept\"\r");
      int at = screen.await(Pattern.compile("still-42"), 0, 60_000);
      assertTrue(at > 0, () -> "the shell lost its state: " + screen.since(0));
      // The default keys are plain input now (the line is then cleared with Ctrl-U).
      type(again, "\u0010\u0011\u0015echo typed-through\r");
      at = screen.await(Pattern.compile("(?m)^typed-through"), at, 20_000);
      assertTrue(at > 0, () -> "Ctrl-P Ctrl-Q did not reach the shell: " + screen.since(0));
      type(again, "exit 5\r");
      assertTrue(again.waitFor(60, TimeUnit.SECONDS), "agentctl attach did not end");
      assertEquals(5, again.exitValue(), () -> screen.since(0));
    } finally {
      again.destroyForcibly();
    }
  }

  @Test
  void aShellProgramThatDoesNotExistIsNamed() throws Exception {
    String script = "\"$0\" shell -- /no/such/shell; echo \"agentctl-exit=$?\"";
    PtyProcess pty = new PtyProcessBuilder(new String[] {"/bin/sh", "-c", script,
        Ctl.LAUNCHER.toString()})
        .setEnvironment(withTerm(Ctl.env(agent.tcp())))
        .start();
    try {
      Screen screen = new Screen(pty.getInputStream());
      assertTrue(pty.waitFor(60, TimeUnit.SECONDS), "agentctl did not end");
      int at = screen.await(Pattern.compile("agentctl-exit=\\d+"), 0, 10_000);
      assertTrue(at > 0, () -> screen.since(0));
      // The terminal is back to normal, so the line ends in CR LF; one line, then the status.
      assertEquals("agentctl: Failed to start shell: /no/such/shell: No such file or directory"
          + "\r\nagentctl-exit=125", screen.since(0).substring(0, at));
    } finally {
      pty.destroyForcibly();
    }
  }

  private static java.util.Map<String, String> withTerm(java.util.Map<String, String> env) {
    env.put("TERM", "xterm");
    return env;
  }

  private static void type(PtyProcess pty, String keys) throws IOException {
    pty.getOutputStream().write(keys.getBytes(StandardCharsets.US_ASCII));
    pty.getOutputStream().flush();
  }
}
