package metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import java.time.Duration;
import java.util.List;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import protocol.Address;
import protocol.Transport;
import state.AgentState;
import state.Metrics;
import state.Slots;

/**
 * Metrics in the Prometheus text format, served at {@code GET /metrics} on the configured address.
 * Only constructed when metrics are enabled.
 */
public final class PrometheusMetrics implements Metrics {
  /**
   * Upper bounds of the request-duration histogram buckets (plus {@code +Inf}). A fixed, short
   * list: from a ping (well under a millisecond) to a long run (minutes), with a handful of
   * buckets per type, so that the number of series stays small on a small VM.
   */
  public static final List<Duration> DURATION_BUCKETS = List.of(Duration.ofMillis(1),
      Duration.ofMillis(5), Duration.ofMillis(25), Duration.ofMillis(100), Duration.ofMillis(250),
      Duration.ofSeconds(1), Duration.ofSeconds(5), Duration.ofSeconds(30), Duration.ofMinutes(2),
      Duration.ofMinutes(10));

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Map<String, Counter> requests = new ConcurrentHashMap<>();
  private final Map<String, Timer> durations = new ConcurrentHashMap<>();
  private final Map<Transport, AtomicInteger> connections =
      new EnumMap<>(Transport.class);
  private final Counter bytesIn;
  private final Counter bytesOut;

  public PrometheusMetrics(AgentState state) {
    bytesIn = Counter.builder("agent.received").baseUnit("bytes")
        .description("Bytes received from hosts").register(registry);
    bytesOut = Counter.builder("agent.sent").baseUnit("bytes")
        .description("Bytes sent to hosts").register(registry);
    Gauge.builder("agent.shell.sessions.active", state.sessions, Slots::inUse)
        .description("Shell sessions, running or exited but not yet closed").register(registry);
    Gauge.builder("agent.runs.active", state.runs, Slots::inUse)
        .description("Run processes in flight").register(registry);
    for (Transport t : Transport.values()) {
      if (t.servable()) {
        connectionGauge(t);
      }
    }
    new JvmMemoryMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new JvmGcMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    new FileDescriptorMetrics().bindTo(registry);
  }

  private void connectionGauge(Transport transport) {
    AtomicInteger n = new AtomicInteger();
    Gauge.builder("agent.connections.active", n, AtomicInteger::get)
        .tag("transport", transport.toString()).description("Open host connections")
        .register(registry);
    connections.put(transport, n);
  }

  @Override
  public void request(String type, String outcome, long nanos) {
    requests.computeIfAbsent(type + '\0' + outcome, k -> Counter.builder("agent.requests")
        .tag("type", type).tag("outcome", outcome).description("Requests answered")
        .register(registry)).increment();
    durations.computeIfAbsent(type, k -> Timer.builder("agent.request.duration").tag("type", type)
        .serviceLevelObjectives(DURATION_BUCKETS.toArray(Duration[]::new))
        .description("Time to answer a request").register(registry))
        .record(Duration.ofNanos(nanos));
  }

  @Override
  public void connections(Transport transport, int delta) {
    connections.get(transport).addAndGet(delta);
  }

  @Override
  public void bytesIn(long n) {
    bytesIn.increment(n);
  }

  @Override
  public void bytesOut(long n) {
    bytesOut.increment(n);
  }

  /**
   * Serves the registry at {@code GET /metrics} on {@code host:port} (an IPv6 host in brackets).
   * A malformed address or a port outside 1..65535 fails with a message that names the key.
   */
  public Future<HttpServer> serve(Vertx vertx, String hostPort) {
    if (hostPort.lastIndexOf(':') <= 0) {
      return Future.failedFuture("key 'metrics' must be HOST:PORT, not '" + hostPort + "'");
    }
    Address address;
    try {
      address = Address.hostPort(hostPort, hostPort);
    } catch (IllegalArgumentException e) {
      address = null;
    }
    // Vert.x would take port 0 as "pick one".
    if (address == null || address.port() < 1) {
      return Future.failedFuture("key 'metrics' needs a port between 1 and 65535, not '"
          + hostPort + "'");
    }
    return vertx.createHttpServer().requestHandler(req -> {
      if (req.path().equals("/metrics")) {
        req.response().putHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
            .end(registry.scrape());
      } else {
        req.response().setStatusCode(404).end("not found: try /metrics\n");
      }
    }).listen(address.port(), address.host()).recover(e -> Future.failedFuture(
        "key 'metrics': cannot serve on " + hostPort + ": " + e.getMessage()));
  }
}
