package verticles;

import config.AgentConfig;
import config.ConfigException;
import config.ConfigLoader;
import config.MemoryPlan;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.file.FileSystemOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import log.Log;
import process.Containment;
import process.ProcessTree;
import protocol.Address;
import protocol.Transport;
import state.AgentState;
import sys.Threads;

/**
 * Starts the agent: reads the configuration, deploys the Run, File and Shell verticles, then the
 * listener, and stops everything on {@code shutdown} or SIGTERM.
 *
 * <pre>java -jar agent.jar [--listen URI]... [--conf FILE] [--log-format text|json]</pre>
 */
public final class Main {
  /** The whole shutdown, from the request to the exit, stays under this. */
  static final long SHUTDOWN_BUDGET_MS = 1800;
  /**
   * How long shutdown waits at least for the killed cells to empty so their cgroups can go; it
   * waits as long as the budget leaves after {@link #EXIT_MS} and {@link #FLUSH_MS}.
   */
  private static final long CGROUP_EMPTY_MS = 100;
  /** Kept back from the budget for the sweep of what is not in a cell, and the JVM's exit. */
  private static final long EXIT_MS = 300;
  /** Time left for the last answers to be written before the process exits. */
  private static final long FLUSH_MS = 100;
  /** Event loops; {@link RunVerticle} has an instance on each. */
  static final int EVENT_LOOPS = 2;

  private final Vertx vertx;
  private final AgentState state;
  private final List<String> deployments = new ArrayList<>();
  private ListenerVerticle listener;
  private final AtomicBoolean stopping = new AtomicBoolean();
  private final CountDownLatch stopped = new CountDownLatch(1);

  private Main(Vertx vertx, AgentState state) {
    this.vertx = vertx;
    this.state = state;
  }

  public static void main(String[] args) {
    // Netty's allocator otherwise sets up Java Flight Recorder events on the first buffer, which
    // costs the first request about 100 ms; nobody records them here.
    if (System.getProperty("io.netty.jfr.enabled") == null) {
      System.setProperty("io.netty.jfr.enabled", "false");
    }
    // Before JDK 23, vfork spares every run the extra exec of the JDK's spawn helper; later JDKs
    // deprecate it, and their default is the right choice there.
    if (Runtime.version().feature() < 23
        && System.getProperty("jdk.lang.Process.launchMechanism") == null) {
      System.setProperty("jdk.lang.Process.launchMechanism", "VFORK");
    }
    // The agent resolves no names but the listen hosts; the JDK's resolver does that without the
    // start-up cost of Netty's asynchronous DNS client.
    if (System.getProperty("vertx.disableDnsResolver") == null) {
      System.setProperty("vertx.disableDnsResolver", "true");
    }
    AgentConfig config;
    List<Address> addresses;
    try {
      config = parse(args);
      if (config == null) {
        return;
      }
      addresses = listenAddresses(config);
    } catch (ConfigException | RuntimeException e) {
      // A command line or configuration the agent cannot use: one line, the usage, exit 2.
      System.err.println("agent: " + e.getMessage());
      System.err.println(USAGE);
      System.exit(2);
      return;
    }
    Log.configure(config.logFormat(), config.logLevel());
    Log.info("memory_plan", "heap_bytes", Runtime.getRuntime().maxMemory(), "worst_case_bytes",
        MemoryPlan.worstCase(config));
    Containment.configure(config.cgroups(), config.pidsMax());
    process.Priority.configure(config.realtimePriority());
    Vertx vertx = Vertx.vertx(new VertxOptions()
        // Netty's epoll transport: every socket family (TCP, Unix, vsock) on the event loops.
        .setPreferNativeTransport(true)
        .setEventLoopPoolSize(EVENT_LOOPS)
        .setWorkerPoolSize(8)
        .setInternalBlockingPoolSize(2)
        .setFileSystemOptions(new FileSystemOptions().setFileCachingEnabled(false)
            .setClassPathResolvingEnabled(false)));
    AgentState state = new AgentState(config);
    // After the start and after a burst of runs, the C library's free memory goes back once
    // nothing has started for a while.
    process.MemoryTrim.install(new ContextLoop(vertx, vertx.getOrCreateContext()));
    // The agent becomes a child subreaper when it starts its first process; orphans it adopts are
    // reaped as the kernel reports their exit (see process.Reaper), never on a timer.
    Main main = new Main(vertx, state);
    main.start(addresses).onComplete(ar -> {
      if (ar.failed()) {
        Log.error("start_failed", "error", ar.cause().getMessage());
        System.err.println("agent: " + ar.cause().getMessage());
        Runtime.getRuntime().halt(1);
      }
      Log.info("ready", "pid", ProcessHandle.current().pid(), "uptime_ms",
          main.state.uptimeMs());
      // The start itself leaves memory free in the C library (about 5 MiB on JDK 25): one trim
      // once the agent is quiet.
      process.MemoryTrim.wanted();
    });
    // SIGTERM (and Ctrl-C) run the same orderly shutdown as the request, and exit 0.
    for (String name : new String[] {"TERM", "INT"}) {
      sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> main.shutdown("signal"));
    }
  }

  private Future<Void> start(List<Address> addresses) {
    Messages.registerCodecs(vertx.eventBus());
    Future<?> metrics = state.config().metrics() == null ? Future.succeededFuture()
        : startMetrics();
    vertx.eventBus().localConsumer(Addresses.CONTROL, m -> {
      if ("shutdown".equals(m.body())) {
        shutdown("request");
      }
    });
    // Vert.x puts the instances of one deployment on successive event loops: one per loop.
    return metrics.compose(v -> vertx.deployVerticle(RunVerticle.instances(state),
            new DeploymentOptions().setInstances(EVENT_LOOPS)).onSuccess(deployments::add))
        .compose(v -> deploy(new FileVerticle(state)))
        .compose(v -> deploy(new ShellVerticle(state)))
        .compose(v -> {
          ListenerVerticle l = new ListenerVerticle(state, addresses);
          return vertx.deployVerticle(l, new DeploymentOptions()).onSuccess(id -> listener = l);
        })
        .mapEmpty();
  }

  /** Kept apart so that the metrics classes are loaded only when metrics are on. */
  private Future<?> startMetrics() {
    metrics.PrometheusMetrics m = new metrics.PrometheusMetrics(state);
    state.metrics(m);
    return m.serve(vertx, state.config().metrics())
        .onSuccess(s -> Log.info("metrics", "address", state.config().metrics(), "path",
            "/metrics"));
  }

  private Future<Void> deploy(io.vertx.core.Deployable verticle) {
    return vertx.deployVerticle(verticle).onSuccess(deployments::add).mapEmpty();
  }

  /**
   * Stops accepting, ends every process and session (SIGTERM or SIGHUP, SIGKILL after the
   * grace), lets the answers in flight go out, and exits 0.
   */
  void shutdown(String why) {
    if (!stopping.compareAndSet(false, true)) {
      return;
    }
    long t0 = System.nanoTime();
    // First, so that the agent ends within the budget whatever happens below.
    Threads.start("shutdown-guard", () -> {
      try {
        if (!stopped.await(SHUTDOWN_BUDGET_MS, TimeUnit.MILLISECONDS)) {
          Log.warn("shutdown_slow", "budget_ms", SHUTDOWN_BUDGET_MS);
          lastResort(0);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    try {
      Log.info("shutdown", "reason", why);
      orderly(t0);
    } catch (Throwable e) {
      // An error here (a class that cannot be loaded any more: the agent's jar was overwritten
      // while it ran) would otherwise leave the agent running, stopping, and deaf to the next
      // signal.
      Log.error("shutdown_failed", "error", String.valueOf(e));
      lastResort(1);
    }
  }

  /**
   * Out of time, or the orderly shutdown failed: nothing the agent started may outlive it. Every
   * cell killed with one write, every descendant left, then a halt with {@code status}.
   */
  private static void lastResort(int status) {
    Runnable[] steps = {Containment::killInstalledNow, ProcessTree::killAllDescendants,
        process.Launcher::removeFiles};
    for (Runnable step : steps) {
      try {
        step.run();
      } catch (Throwable e) {
        // Each step is tried whatever became of the one before (a class it needs may be gone).
        Log.error("shutdown_step_failed", "error", String.valueOf(e));
      }
    }
    Runtime.getRuntime().halt(status);
  }

  /** The shutdown's steps, each after the one before; the last one exits 0. */
  private void orderly(long t0) {
    state.stopping(true);
    // Only the accepting stops: the connections stay (their verticle is never undeployed), so
    // that the answers of the runs and sessions ended below still reach their hosts.
    Future<?> noListener = listener == null ? Future.succeededFuture() : listener.stopAccepting();
    noListener.recover(e -> Future.succeededFuture())
        .compose(v -> {
          Log.debug("shutdown_step", "step", "accepting_stopped", "ms", ms(t0));
          List<Future<?>> all = new ArrayList<>();
          for (String id : deployments) {
            all.add(vertx.undeploy(id));
          }
          return Future.join(all);
        })
        // Whatever is left (an escaped process the agent adopted) goes too.
        .eventually(() -> vertx.executeBlocking(() -> {
          Log.debug("shutdown_step", "step", "undeployed", "ms", ms(t0));
          // Every cell at once (what answered runs left running included), then anything that
          // is not in one.
          Containment.closeInstalled(Math.max(CGROUP_EMPTY_MS,
              SHUTDOWN_BUDGET_MS - FLUSH_MS - EXIT_MS - ms(t0)));
          Log.debug("shutdown_step", "step", "cells_closed", "ms", ms(t0));
          ProcessTree.killAllDescendants();
          Log.debug("shutdown_step", "step", "descendants_killed", "ms", ms(t0));
          return null;
        }, false))
        .onComplete(ar -> {
          // Answers to requests that were cut short (killed runs, closed sessions) are written
          // by now or within a few event-loop turns; give them a moment, then exit. The event
          // loops are not closed first: a closed loop cannot deliver those last answers.
          vertx.setTimer(FLUSH_MS, t -> {
            Log.debug("shutdown_step", "step", "exit", "ms", ms(t0));
            stopped.countDown();
            System.exit(0);
          });
        });
  }

  private static long ms(long since) {
    return (System.nanoTime() - since) / 1_000_000;
  }

  static final String USAGE = """
      usage: agent [--listen URI]... [--conf FILE] [--token-file FILE]
                   [--metrics HOST:PORT] [--log-format text|json] [--log-level LEVEL]
        URI: vsock://any:52000 (default), tcp://HOST:PORT, unix:/path""";

  /** The configuration from the arguments, or null when only help or the version was asked. */
  static AgentConfig parse(String[] args) throws ConfigException {
    Args a = Args.parse(args);
    if (a.help()) {
      System.out.println(USAGE);
      return null;
    }
    if (a.version()) {
      System.out.println("agent " + AgentState.VERSION + " (protocol " + AgentState.PROTOCOL
          + ")");
      return null;
    }
    Map<String, Object> overrides = new HashMap<>();
    putIfSet(overrides, "auth_token_file", a.values().get("--token-file"));
    putIfSet(overrides, "metrics", a.values().get("--metrics"));
    putIfSet(overrides, "log_format", a.values().get("--log-format"));
    putIfSet(overrides, "log_level", a.values().get("--log-level"));
    if (!a.listen().isEmpty()) {
      overrides.put("listen", a.listen());
    }
    String conf = a.values().get("--conf");
    return ConfigLoader.load(conf == null ? null : Path.of(conf), System.getenv(), overrides);
  }

  private static void putIfSet(Map<String, Object> overrides, String key, String value) {
    if (value != null) {
      overrides.put(key, value);
    }
  }

  /** The addresses of key 'listen'; a malformed one, or open TCP without a token, is refused. */
  static List<Address> listenAddresses(AgentConfig config) throws ConfigException {
    List<Address> addresses = new ArrayList<>();
    for (String uri : config.listen()) {
      Address a;
      try {
        a = Address.listen(uri);
      } catch (IllegalArgumentException e) {
        throw new ConfigException("key 'listen': " + e.getMessage());
      }
      if (a.transport() == Transport.TCP && !a.isLoopback() && config.authToken() == null) {
        throw new ConfigException("key 'listen': refusing to listen on " + a + " without a"
            + " token: set auth_token or auth_token_file (or AGENT_AUTH_TOKEN), or listen on"
            + " loopback");
      }
      addresses.add(a);
    }
    return addresses;
  }
}
