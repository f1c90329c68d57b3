package process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A shell session's process without Vert.x: real processes on real terminals, driven through
 * {@link ShellProcess} with a plain scheduler.
 *
 * <p>Runs in a JVM of its own (the {@code own-jvm} tag, a surefire execution of its own): the
 * native engine makes the JVM that starts processes a subreaper that waits for any child
 * ({@code waitpid(-1)}), and in the suite's JVM it would take the exit statuses of the agents
 * the other tests start.
 */
@Tag("own-jvm")
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ShellProcessTest {
  private static final long WAIT_S = 60;
  private static ScheduledExecutorService executor;
  private static Loop scheduler;

  @BeforeAll
  static void setUp() {
    // The test JVM is not the agent: its processes are tracked by tag, not in cgroups of its own.
    Containment.configure(false, 0);
    executor = Executors.newSingleThreadScheduledExecutor();
    scheduler = Loop.of(executor);
  }

  @AfterAll
  static void tearDown() {
    executor.shutdownNow();
  }

  /** Collects a terminal's output and what the process told, in order. */
  private static final class Screen implements OutputSink {
    private final StringBuilder text = new StringBuilder();
    final List<String> events = new CopyOnWriteArrayList<>();

    @Override
    public long room(Waker waker) {
      return Long.MAX_VALUE;
    }

    @Override
    public synchronized boolean write(byte[] b, int off, int len) {
      text.append(new String(b, off, len, StandardCharsets.ISO_8859_1));
      notifyAll();
      return true;
    }

    @Override
    public synchronized void finish() {
      events.add("end");
      notifyAll();
    }

    synchronized void await(String s) throws InterruptedException {
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
      while (text.indexOf(s) < 0) {
        long left = until - System.nanoTime();
        assertTrue(left > 0, () -> "no " + s + " in " + text);
        TimeUnit.NANOSECONDS.timedWait(this, left);
      }
    }

    synchronized void awaitEnd() throws InterruptedException {
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
      while (!events.contains("end")) {
        long left = until - System.nanoTime();
        assertTrue(left > 0, "the output never ended");
        TimeUnit.NANOSECONDS.timedWait(this, left);
      }
    }
  }

  private static ShellProcess start(Screen screen, String script) throws IOException {
    return ShellProcess.start(List.of("/bin/sh", "-c", script), null, Map.of("GREETING", "hello"),
        80, 24, screen, code -> screen.events.add("exit " + code));
  }

  @Test
  void theExitCodeComesBeforeTheEndOfTheOutput() throws Exception {
    Screen screen = new Screen();
    ShellProcess p = start(screen, "printf \"$GREETING $TERM\"; exit 3");
    assertTrue(p.pid() > 0);
    assertEquals(3, p.exit().get(WAIT_S, TimeUnit.SECONDS));
    screen.await("hello xterm-256color");
    screen.awaitEnd();
    assertEquals(List.of("exit 3", "end"), screen.events);
    p.close();
  }

  @Test
  void endHangsUpTheSession() throws Exception {
    // SIGHUP, 1: 128 + 1, long before the grace is over.
    ShellProcess p = ended("", 60_000, 129);
    p.close();
  }

  @Test
  void endKillsWhatIgnoresTheHangUpAfterTheGrace() throws Exception {
    // SIGKILL, 9: 128 + 9.
    ShellProcess p = ended("trap '' HUP; ", 200, 137);
    // Ending again once it is gone sweeps what is left and gives the same status.
    assertEquals(137, p.end(200, scheduler).get(WAIT_S, TimeUnit.SECONDS));
    p.close();
  }

  /**
   * Starts a shell that runs {@code setup} and then sleeps, ends it once it is ready with
   * {@code graceMs}, and expects {@code code}.
   */
  private static ShellProcess ended(String setup, long graceMs, int code) throws Exception {
    Screen screen = new Screen();
    ShellProcess p = start(screen, setup + "echo READY; exec sleep 600");
    screen.await("READY");
    assertEquals(code, p.end(graceMs, scheduler).get(WAIT_S, TimeUnit.SECONDS));
    return p;
  }

  @Test
  void resizeReachesTheProgram() throws Exception {
    Screen screen = new Screen();
    ShellProcess p = start(screen, "stty -echo; echo READY; read x; stty size");
    screen.await("READY");
    CompletableFuture<Exception> resized = new CompletableFuture<>();
    p.resize(100, 40, resized::complete);
    assertNull(resized.get(WAIT_S, TimeUnit.SECONDS));
    CompletableFuture<IOException> written = new CompletableFuture<>();
    assertTrue(p.write("\n".getBytes(StandardCharsets.US_ASCII), written::complete));
    assertNull(written.get(WAIT_S, TimeUnit.SECONDS));
    screen.await("40 100");
    assertEquals(0, p.exit().get(WAIT_S, TimeUnit.SECONDS));
    p.close();
  }

  @Test
  void inputBeyondTheBoundIsRefusedWhileInputWaits() throws Exception {
    Screen screen = new Screen();
    // A terminal that takes no input: its buffer fills and the first write waits.
    ShellProcess p = start(screen, "stty raw -echo; echo READY; exec sleep 600");
    screen.await("READY");
    CompletableFuture<IOException> big = new CompletableFuture<>();
    // Taken although larger than the bound: nothing waits yet.
    assertTrue(p.write(new byte[(int) ShellProcess.MAX_PENDING_INPUT * 2], big::complete));
    assertFalse(big.isDone());
    assertFalse(p.write(new byte[] {'x'}, e -> { }), "input past the bound while input waits");
    assertEquals(129, p.end(60_000, scheduler).get(WAIT_S, TimeUnit.SECONDS));
    p.close();
    // Closing the terminal fails what was still queued.
    assertNotNull(big.get(WAIT_S, TimeUnit.SECONDS));
  }
}
