package stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import process.Containment;
import process.OutputBudget;
import protocol.Errors;
import protocol.FrameDecoder;
import protocol.Request;
import protocol.Response;
import support.Poll;

/**
 * A run's life without Vert.x: real processes driven through {@link CommandRun} with a plain
 * single-threaded executor for its loop, a scheduler for its timers, and an outlet that
 * acknowledges each frame as a connection would once written.
 *
 * <p>Each case runs in a JVM of its own ({@link Cases}): the native engine makes the JVM that
 * starts processes a subreaper that waits for any child ({@code waitpid(-1)}), and in the suite's
 * JVM it would take the exit statuses of the agents the other tests start.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class CommandRunTest {
  /** Bounds that only catch hangs. */
  private static final long WAIT_S = 60;

  /** The folder where a case writes its pid files. */
  @TempDir
  Path tmp;

  @Test
  void aCapturedRunAnswersOnceWithItsOutputAndExitCode() throws Exception {
    inOwnJvm("captured");
  }

  @Test
  void aCapturedRunKeepsNoMoreThanItsCapAndSaysSoInBase64Too() throws Exception {
    inOwnJvm("capped");
  }

  @Test
  void aStreamedRunSendsItsOutputThenEndsWithTheAnswer() throws Exception {
    inOwnJvm("streamed");
  }

  @Test
  void aStreamedRunThatExitedAnswersOnlyOnceItsOutputIsAcknowledged() throws Exception {
    inOwnJvm("streamedWaitsForAcks");
  }

  @Test
  void aTimeoutEndsTheRunAndItsAnswerSays124() throws Exception {
    inOwnJvm("timeout");
  }

  @Test
  void aCommandThatCannotStartIsAnsweredWithTheRunError() throws Exception {
    inOwnJvm("startFails");
  }

  @Test
  void aClosedConnectionKillsTheRunAndIsItsOneAnswer() throws Exception {
    inOwnJvm("connectionClosed");
  }

  private void inOwnJvm(String name) throws Exception {
    support.OwnJvm.run(Cases.class, 2 * WAIT_S, "case " + name + " passed", name,
        tmp.toString());
  }

  /**
   * The cases, each run by {@link #main} in a JVM that serves only it, with the case's name and
   * the folder for its files.
   */
  static final class Cases {
    private static final ScheduledExecutorService LOOP =
        Executors.newSingleThreadScheduledExecutor(r -> {
          Thread t = new Thread(r, "run-loop");
          t.setDaemon(true);
          return t;
        });

    /** What the outlet and the answer saw, in order: frames, then answers. */
    private static final List<Response> EVENTS = new CopyOnWriteArrayList<>();
    private static final List<String> ANSWER_THREADS = new CopyOnWriteArrayList<>();
    private static final AtomicInteger WAYS_OPENED = new AtomicInteger();
    private static final AtomicInteger WAYS_CLOSED = new AtomicInteger();
    private static final CompletableFuture<Response> ANSWER = new CompletableFuture<>();


    /** While set (read and written on the loop), acknowledgements wait in {@link #HELD}. */
    private static boolean holdAcks;
    private static final List<Runnable> HELD = new ArrayList<>();

    /** Where the case writes its pid files. */
    private static Path dir;

    /**
     * Records each frame and acknowledges it on the loop, as a connection does once written, or
     * holds the acknowledgement back (a host that has not taken the frame yet).
     */
    private static final CommandRun.Outlet OUTLET = acks -> {
      WAYS_OPENED.incrementAndGet();
      return new CommandRun.Outlet.Way() {
        @Override
        public void send(String connId, Response frame, long epoch, long offset) {
          EVENTS.add(frame);
          Runnable ack = () -> acks.ack(epoch, offset);
          if (holdAcks) {
            HELD.add(ack);
          } else {
            LOOP.execute(ack);
          }
        }

        @Override
        public void close() {
          WAYS_CLOSED.incrementAndGet();
        }
      };
    };

    private static final CommandRun.Shared SHARED = new CommandRun.Shared(process.Loop.of(LOOP),
        1 << 20, new OutputBudget(1 << 24), new FrameDecoder.Budget(1 << 24), OUTLET);

    public static void main(String[] args) throws Exception {
      // This JVM is not the agent: its processes are tracked by tag, not in cgroups of its own.
      Containment.configure(false, 0);
      dir = Path.of(args[1]);
      switch (args[0]) {
        case "captured" -> captured();
        case "capped" -> capped();
        case "streamed" -> streamed();
        case "streamedWaitsForAcks" -> streamedWaitsForAcks();
        case "timeout" -> timeout();
        case "startFails" -> startFails();
        case "connectionClosed" -> connectionClosed();
        default -> throw new IllegalArgumentException(args[0]);
      }
      // Whatever else the loop still had to do is done: still one answer, given on the loop.
      LOOP.submit(() -> { }).get(WAIT_S, TimeUnit.SECONDS);
      assertEquals(List.of("run-loop"), ANSWER_THREADS, "one answer, on the loop");
      System.out.println("case " + args[0] + " passed");
      System.exit(0);
    }

    private static Request.Run request(boolean stream, Long timeoutMs, Long maxOutputBytes,
        Request.OutputEncoding encoding, String... command) {
      return new Request.Run("r1", List.of(command), null, null, timeoutMs, null, maxOutputBytes,
          encoding, stream, false, null);
    }

    private static CommandRun start(Request.Run request) throws Exception {
      CommandRun run = CommandRun.of(SHARED, "c1", request, (done, response) -> {
        ANSWER_THREADS.add(Thread.currentThread().getName());
        EVENTS.add(response);
        ANSWER.complete(response);
      });
      LOOP.submit(run::start).get(WAIT_S, TimeUnit.SECONDS);
      return run;
    }

    private static Response answer() throws Exception {
      return ANSWER.get(WAIT_S, TimeUnit.SECONDS);
    }

    static void captured() throws Exception {
      CommandRun run = start(request(false, null, null, null,
          "/bin/sh", "-c", "printf hello; printf oops >&2; exit 3"));
      Response r = answer();
      assertNull(r.get("error"), () -> String.valueOf(r.get("error")));
      assertEquals(3, r.get("exit_code"));
      assertEquals("hello", r.get("stdout"));
      assertEquals("oops", r.get("stderr"));
      assertNull(r.get("stdout_truncated"));
      assertNull(r.get("timed_out"));
      // A close that comes after the answer is not a second answer.
      LOOP.submit(() -> CommandRun.connectionClosed("c1", List.of(run)))
          .get(WAIT_S, TimeUnit.SECONDS);
      assertEquals(List.of(r), EVENTS);
      assertEquals(0, WAYS_OPENED.get(), "a captured run sends no frames");
    }

    static void capped() throws Exception {
      start(request(false, null, 3L, Request.OutputEncoding.BASE64,
          "/bin/sh", "-c", "printf hello; printf ab >&2"));
      Response r = answer();
      assertArrayEquals("hel".getBytes(StandardCharsets.US_ASCII), (byte[]) r.get("stdout_base64"));
      assertEquals(Boolean.TRUE, r.get("stdout_truncated"));
      assertArrayEquals("ab".getBytes(StandardCharsets.US_ASCII), (byte[]) r.get("stderr_base64"));
      assertNull(r.get("stderr_truncated"));
      assertEquals(0, r.get("exit_code"));
    }

    static void streamed() throws Exception {
      // More than the stream's buffer and the pump's window: it moves only as frames are acked.
      int size = 1_000_000;
      start(request(true, null, null, null,
          "/bin/sh", "-c", "head -c " + size + " /dev/zero; printf err >&2; exit 5"));
      Response end = answer();
      assertSame(end, EVENTS.get(EVENTS.size() - 1), "the answer comes last");
      assertNull(end.get("error"), () -> String.valueOf(end.get("error")));
      assertEquals(5, end.get("exit_code"));
      assertNull(end.get("stdout"), "the output was streamed, not answered");
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      List<Response> frames = new ArrayList<>(EVENTS.subList(0, EVENTS.size() - 1));
      for (Response f : frames) {
        assertEquals("r1", f.id());
        byte[] data = (byte[]) f.get("output_base64");
        ("stdout".equals(f.get("stream")) ? out : err).write(data, 0, data.length);
      }
      assertTrue(frames.size() > 1, "sent in chunks: " + frames.size());
      assertArrayEquals(new byte[size], out.toByteArray());
      assertEquals("err", err.toString(StandardCharsets.UTF_8));
      assertEquals(2, WAYS_OPENED.get());
      assertEquals(2, WAYS_CLOSED.get(), "both streams let go of their acknowledgements");
    }

    static void streamedWaitsForAcks() throws Exception {
      LOOP.submit(() -> holdAcks = true).get(WAIT_S, TimeUnit.SECONDS);
      Path pidFile = pidFile();
      start(request(true, null, null, null, "/bin/sh", "-c", writePid(pidFile)
          + " && printf abc && printf err >&2"));
      long pid = readPid(pidFile);
      Poll.until("all 6 bytes sent", WAIT_S * 1000, () -> EVENTS.stream()
          .mapToInt(f -> ((byte[]) f.get("output_base64")).length).sum() == 6);
      Poll.until("the command exited", WAIT_S * 1000,
          () -> !Files.exists(Path.of("/proc/" + pid)));
      LOOP.submit(() -> { }).get(WAIT_S, TimeUnit.SECONDS);
      assertTrue(!ANSWER.isDone(), "no answer while output is unacknowledged: " + EVENTS);
      LOOP.execute(() -> {
        holdAcks = false;
        HELD.forEach(Runnable::run);
      });
      Response end = answer();
      assertEquals(0, end.get("exit_code"));
      assertSame(end, EVENTS.get(EVENTS.size() - 1), "the answer comes last");
    }

    private static Path pidFile() throws Exception {
      Path pidFile = Files.createTempFile(dir, "run", ".pid");
      Files.delete(pidFile);
      return pidFile;
    }

    /** A shell command that writes its pid to {@code pidFile}, whole, at once. */
    private static String writePid(Path pidFile) {
      return "echo $$ > " + pidFile + ".tmp && mv " + pidFile + ".tmp " + pidFile;
    }

    private static long readPid(Path pidFile) throws Exception {
      Poll.until("the command wrote its pid", WAIT_S * 1000, () -> Files.exists(pidFile));
      long pid = Long.parseLong(Files.readString(pidFile).trim());
      Files.delete(pidFile);
      return pid;
    }

    static void timeout() throws Exception {
      long t0 = System.nanoTime();
      // Long enough for the shell to have printed on a loaded machine (the time counts from the
      // start of the start), far shorter than the sleep.
      start(request(false, 2000L, null, null,
          "/bin/sh", "-c", "printf before; exec sleep 60"));
      Response r = answer();
      assertEquals(CommandRun.TIMED_OUT, r.get("exit_code"));
      assertEquals(Boolean.TRUE, r.get("timed_out"));
      assertEquals("before", r.get("stdout"), "what came before the timeout is kept");
      assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(WAIT_S / 2),
          "killed at its timeout, not at the sleep's end");
    }

    static void startFails() throws Exception {
      start(request(false, null, null, null, "/nonexistent/program"));
      Response r = answer();
      String error = (String) r.get("error");
      assertTrue(error != null
          && error.startsWith(Errors.RUN_FAILED + ": /nonexistent/program: "), error);
    }

    static void connectionClosed() throws Exception {
      Path pidFile = pidFile();
      CommandRun run = start(request(true, null, null, null,
          "/bin/sh", "-c", writePid(pidFile) + " && exec sleep 60"));
      long pid = readPid(pidFile);
      LOOP.submit(() -> CommandRun.connectionClosed("c1", List.of(run)))
          .get(WAIT_S, TimeUnit.SECONDS);
      Response r = answer();
      assertEquals(Errors.CONNECTION_CLOSED, r.get("error"));
      Poll.until("the run's process is gone", WAIT_S * 1000,
          () -> !Files.exists(Path.of("/proc/" + pid)));
      assertEquals(2, WAYS_CLOSED.get());
    }
  }
}
