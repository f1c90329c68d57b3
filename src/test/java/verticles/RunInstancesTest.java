package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import config.AgentConfig;
import io.netty.util.concurrent.EventExecutor;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.internal.VertxInternal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import process.Containment;
import protocol.Request;
import protocol.Response;
import state.AgentState;
import support.Poll;
import support.Procs;

/**
 * The instances of {@link RunVerticle}, one per event loop, are one server as far as the agent's
 * limits go: a run served by one instance finds the output budget that a run of another instance
 * spent, and stopping the deployment ends the runs of every instance.
 *
 * <p>Real processes, served by the real verticles on Vert.x's event loops; the requests come over
 * the event bus, as a connection sends them. The case runs in a JVM of its own
 * ({@link Cases}): the process engine makes the JVM that starts processes a subreaper that waits
 * for any child, and in the suite's JVM it would take the exit statuses of other tests' agents.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RunInstancesTest {
  /** Bounds that only catch hangs. */
  private static final long WAIT_S = 60;

  @Test
  void instancesShareTheOutputBudgetAndAllStop(@TempDir Path dir) throws Exception {
    support.OwnJvm.run(Cases.class, 2 * WAIT_S, "case passed", dir.toString());
  }

  /** The case, run by {@link #main} in a JVM that serves only it, in the folder it is given. */
  static final class Cases {
    private static final long MIB = 1 << 20;
    /** What each run writes: together more than the budget, each alone within it. */
    private static final long EACH = 3 * MIB / 4;
    /** A command line no other test uses, to tell that the first run's process is gone. */
    private static final String[] HOLD = {"sleep", "61.25"};

    public static void main(String[] args) {
      int status = 1;
      try {
        check(Path.of(args[0]));
        System.out.println("case passed");
        status = 0;
      } catch (Throwable t) {
        t.printStackTrace();
      }
      // Vert.x's threads would keep the JVM; what the case started is gone by now either way.
      System.exit(status);
    }

    private static void check(Path dir) throws Exception {
      // This JVM is not the agent: its processes are tracked by tag, not in cgroups of its own.
      Containment.configure(false, 0);
      Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(Main.EVENT_LOOPS));
      Messages.registerCodecs(vertx.eventBus());
      AgentState state = new AgentState(AgentConfig.defaults().toBuilder()
          .runOutputBudgetBytes(MIB).runMaxOutputBytes(4 * MIB).build());
      String deployment = get(vertx.deployVerticle(RunVerticle.instances(state),
          new DeploymentOptions().setInstances(Main.EVENT_LOOPS)));
      List<Thread> loops = new ArrayList<>();
      for (EventExecutor e : ((VertxInternal) vertx).nettyEventLoopGroup()) {
        loops.add(e.submit(Thread::currentThread).get(WAIT_S, TimeUnit.SECONDS));
      }
      assertEquals(Main.EVENT_LOOPS, loops.size(), loops::toString);
      Path held = dir.resolve("held");
      boolean undeployed = false;
      try {
        // The first run, served by the instance on the first loop, holds its output: once it
        // has written all of it, no more than a pipe's buffer of it is still unread.
        Future<Message<Response>> first = send(vertx, loops.get(0), "c1", run("a", "sh", "-c",
            "head -c " + EACH + " /dev/zero; : > '" + held + "'; exec " + String.join(" ", HOLD)));
        Poll.until("the first run has written its output", WAIT_S * 1000,
            () -> Files.exists(held));
        // The second, on the other loop's instance, finds the budget mostly spent.
        Response second = get(send(vertx, loops.get(1), "c2", run("b", "head", "-c",
            Long.toString(EACH), "/dev/zero"))).body();
        assertNull(second.get("error"), second::toString);
        assertEquals(0, second.get("exit_code"), second::toString);
        assertEquals(Boolean.TRUE, second.get("stdout_truncated"),
            "the output budget is one for every instance");
        assertTrue(((String) second.get("stdout")).length() < EACH, "truncated");
        // Stopping the deployment stops the first run too, though no request asked it to.
        undeployed = true;
        get(vertx.undeploy(deployment));
        Response a = get(first).body();
        assertEquals(128 + 15, a.get("exit_code"), a::toString);
        assertFalse(Procs.running(HOLD), "the first run's process is gone");
      } finally {
        if (!undeployed) {
          // A failed check leaves no process behind.
          vertx.undeploy(deployment).toCompletionStage().toCompletableFuture()
              .get(WAIT_S, TimeUnit.SECONDS);
        }
      }
      get(vertx.close());
    }

    private static Request.Run run(String id, String... command) {
      return new Request.Run(id, List.of(command), null, null, null, null, null, null, false,
          false, null);
    }

    /** A run sent to the instance on {@code loop}, as a connection on that loop sends it. */
    private static Future<Message<Response>> send(Vertx vertx, Thread loop, String connId,
        Request.Run r) {
      return vertx.eventBus().request(Addresses.runOn(loop), new Messages.Envelope(connId, r),
          Messages.UNTIMED);
    }

    private static <T> T get(Future<T> f) throws Exception {
      return f.toCompletionStage().toCompletableFuture().get(WAIT_S, TimeUnit.SECONDS);
    }
  }
}
