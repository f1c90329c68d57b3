package metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import protocol.RequestType;
import support.AgentProcess;

/**
 * The metrics endpoint of a real agent process, scraped over HTTP after a known mix of requests:
 * exact counts by type and outcome, the duration histogram, the gauges while work is in flight
 * and after it ends, the byte counters, the JVM metrics, and labels that never carry an id, a
 * path or a command. Also: with metrics off, the agent listens on nothing but its own address.
 */
class MetricsTest {
  /** Every string that identifies one request, path or command; none may reach the metrics. */
  private static final List<String> SECRETS = new ArrayList<>();
  private static final String TAG = UUID.randomUUID().toString().substring(0, 8);

  private static AgentProcess agent;
  private static int metricsPort;
  private static long bytesWritten;
  private static int framesRead;
  /** Scraped while a run, a shell session and a connection on each transport were open. */
  private static Scrape busy;
  /** Scraped after everything closed. */
  private static Scrape done;
  private static Set<Integer> listeningWhileOn;
  /** Where the agent's folder is made, for its socket and the files the requests write. */
  @TempDir
  static Path tmp;

  @BeforeAll
  static void traffic() throws Exception {
    agent = startWithMetrics();
    Path work = Files.createTempDirectory(agent.dir(), "work-" + TAG);
    Path released = work.resolve("release-" + TAG);
    String sessionId;
    try (AgentConnection tcp = AgentConnection.open(agent.tcp());
        AgentConnection unix = AgentConnection.open(agent.unix())) {
      // ping: 3 ok.
      for (int i = 0; i < 3; i++) {
        assertEquals(0, call(tcp, req("ping", "ping")).getInteger("exit_code"));
      }
      // run: ok (exit 0), ok (exit 3: a command that fails is still answered), error.
      assertEquals(0, call(tcp, req("run", "echo").put("command",
          new JsonArray().add("echo").add(secret("argument")))).getInteger("exit_code"));
      assertEquals(3, call(tcp, req("run", "exit3").put("command",
          new JsonArray().add("sh").add("-c").add("exit 3"))).getInteger("exit_code"));
      String missing = secret("/nonexistent/program");
      assertTrue(call(tcp, req("run", "missing").put("command", new JsonArray().add(missing)))
          .getString("error").startsWith("Failed to run command"));
      // Bad requests: an unknown type and a body that is not JSON, counted as type "invalid".
      assertTrue(call(unix, req("no_such_type", "bogus")).getString("error")
          .startsWith("Invalid request"));
      frame(unix, ("not json " + secret("garbage")).getBytes(StandardCharsets.UTF_8));
      assertTrue(read(unix).getString("error").startsWith("Invalid request"));
      // Files: one write, one failed read.
      String file = work.resolve(secret("file") + ".txt").toString();
      SECRETS.add(file);
      assertEquals(0, call(unix, req("write_file", "write").put("path", file)
          .put("content_base64", Base64.getEncoder().encodeToString(
              secret("content").getBytes(StandardCharsets.UTF_8)))).getInteger("exit_code"));
      String absent = work.resolve(secret("absent")).toString();
      SECRETS.add(absent);
      assertTrue(call(unix, req("read_file", "read").put("path", absent)).getString("error")
          .startsWith("Failed to read file"));
      // A shell session stays open on the Unix connection.
      JsonObject started = call(unix, req("shell", "shell").put("command",
          new JsonArray().add("/bin/sh")));
      assertEquals("started", started.getString("shell_event"));
      sessionId = started.getString("session_id");
      SECRETS.add(sessionId);

      // A run that waits for a file holds the one request slot of the TCP connection (the
      // agent runs with max_requests_per_connection=1), so the ping behind it is Busy.
      SECRETS.add(released.toString());
      JsonObject blocker = req("run", "blocker").put("command", new JsonArray().add("sh")
          .add("-c").add("while [ ! -e \"$0\" ]; do sleep 0.02; done").add(released.toString()));
      JsonObject ping = req("ping", "busy");
      send(tcp, blocker);
      send(tcp, ping);
      JsonObject refused = read(tcp);
      assertEquals(ping.getString("id"), refused.getString("id"));
      assertEquals("Busy: requests in flight on this connection (max 1)",
          refused.getString("error"));
      busy = Scrape.await(metricsPort, s -> s.value("agent_runs_active") == 1
          && s.value("agent_shell_sessions_active") == 1);
      listeningWhileOn = ListeningSockets.ports(agent.pid());
      Files.createFile(released);
      JsonObject finished = read(tcp);
      assertEquals(blocker.getString("id"), finished.getString("id"));
      assertEquals(0, finished.getInteger("exit_code"));

      assertEquals(129, call(unix, req("shell_close", "close").put("session_id", sessionId))
          .getInteger("exit_code"));
    }
    done = Scrape.await(metricsPort, s -> s.value("agent_connections_active", "transport", "tcp")
        == 0 && s.value("agent_connections_active", "transport", "unix") == 0
        && s.value("agent_runs_active") == 0 && s.value("agent_shell_sessions_active") == 0);
  }

  @AfterAll
  static void stop() throws Exception {
    if (agent != null) {
      agent.close();
    }
  }

  /** Starts an agent with metrics on a free port, trying another port if that one was taken. */
  private static AgentProcess startWithMetrics() throws Exception {
    for (int attempt = 1; ; attempt++) {
      try (ServerSocket s = new ServerSocket(0)) {
        metricsPort = s.getLocalPort();
      }
      Path dir = Files.createTempDirectory(tmp, "metrics-" + TAG);
      AgentProcess a = AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0",
          "--listen", "unix:" + dir.resolve("agent.sock"), "--metrics",
          "127.0.0.1:" + metricsPort), Map.of("AGENT_MAX_REQUESTS_PER_CONNECTION", "1"));
      try {
        return a.awaitReady();
      } catch (Exception e) {
        a.close();
        if (attempt == 3 || a.log().stream().noneMatch(l -> l.contains("cannot serve"))) {
          throw e;
        }
      }
    }
  }

  // ---- the requests, as a host sends them, counting every byte that goes to the agent

  private static String secret(String what) {
    String s = what + "-" + TAG + "-" + UUID.randomUUID();
    SECRETS.add(s);
    return s;
  }

  private static JsonObject req(String type, String name) {
    return new JsonObject().put("id", secret("req-" + name)).put("type", type);
  }

  private static void frame(AgentConnection c, byte[] body) throws IOException {
    c.writeFrame(body);
    bytesWritten += 4 + body.length;
  }

  private static void send(AgentConnection c, JsonObject request) throws IOException {
    frame(c, request.encode().getBytes(StandardCharsets.UTF_8));
  }

  private static JsonObject read(AgentConnection c) throws IOException {
    framesRead++;
    return c.receive();
  }

  /** Sends a request and reads up to its answer, skipping shell output events. */
  private static JsonObject call(AgentConnection c, JsonObject request) throws IOException {
    send(c, request);
    while (true) {
      JsonObject r = read(c);
      if (request.getString("id").equals(r.getString("id"))
          && !"output".equals(r.getString("shell_event"))) {
        return r;
      }
    }
  }

  // ---- the checks

  /** type -> outcome -> count, exactly as the requests above should have been counted. */
  private static final Map<String, Map<String, Double>> EXPECTED = Map.of(
      "ping", Map.of("ok", 3.0, "busy", 1.0),
      "run", Map.of("ok", 3.0, "error", 1.0),
      "invalid", Map.of("error", 2.0),
      "write_file", Map.of("ok", 1.0),
      "read_file", Map.of("error", 1.0),
      "shell", Map.of("ok", 1.0),
      "shell_close", Map.of("ok", 1.0));

  @Test
  void requestsAreCountedByTypeAndOutcome() {
    Map<String, Map<String, Double>> seen = new TreeMap<>();
    for (Scrape.Sample s : done.find("agent_requests_total")) {
      seen.computeIfAbsent(s.labels().get("type"), k -> new TreeMap<>())
          .put(s.labels().get("outcome"), s.value());
    }
    assertEquals(new TreeMap<>(EXPECTED.entrySet().stream().collect(Collectors.toMap(
        Map.Entry::getKey, e -> new TreeMap<>(e.getValue())))), seen, done.text());
    assertEquals(3.0, done.value("agent_requests_total", "type", "ping", "outcome", "ok"));
    assertEquals(1.0, done.value("agent_requests_total", "type", "ping", "outcome", "busy"));
    assertEquals(1.0, done.value("agent_requests_total", "type", "run", "outcome", "error"));
  }

  @Test
  void durationHistogramHasTheFixedBucketsPerType() {
    List<Double> bounds = new ArrayList<>();
    for (Duration d : PrometheusMetrics.DURATION_BUCKETS) {
      bounds.add(d.toNanos() / 1e9);
    }
    bounds.add(Double.POSITIVE_INFINITY);
    for (var e : EXPECTED.entrySet()) {
      String type = e.getKey();
      double answered = e.getValue().values().stream().mapToDouble(Double::doubleValue).sum();
      List<Scrape.Sample> buckets = done.find("agent_request_duration_seconds_bucket", "type",
          type);
      List<Double> les = buckets.stream().map(b -> Double.parseDouble(
          b.labels().get("le").replace("+Inf", "Infinity"))).toList();
      assertEquals(bounds.size(), les.size(), type + ": " + les);
      for (int i = 0; i < bounds.size(); i++) {
        assertEquals(bounds.get(i), les.get(i), 1e-9, type + " bucket " + i);
      }
      for (int i = 1; i < buckets.size(); i++) {
        assertTrue(buckets.get(i).value() >= buckets.get(i - 1).value(),
            type + ": buckets must be cumulative");
      }
      assertEquals(answered, buckets.get(buckets.size() - 1).value(), type + " +Inf bucket");
      assertEquals(answered, done.value("agent_request_duration_seconds_count", "type", type));
      assertTrue(done.value("agent_request_duration_seconds_sum", "type", type) > 0, type);
    }
    // The longest run so far is reported too.
    assertTrue(done.value("agent_request_duration_seconds_max", "type", "run") > 0);
    assertEquals(EXPECTED.keySet(), done.find("agent_request_duration_seconds_count").stream()
        .map(s -> s.labels().get("type")).collect(Collectors.toSet()));
  }

  @Test
  void gaugesFollowConnectionsRunsAndSessions() {
    assertEquals(1.0, busy.value("agent_connections_active", "transport", "tcp"));
    assertEquals(1.0, busy.value("agent_connections_active", "transport", "unix"));
    assertEquals(0.0, busy.value("agent_connections_active", "transport", "vsock"));
    assertEquals(1.0, busy.value("agent_runs_active"));
    assertEquals(1.0, busy.value("agent_shell_sessions_active"));
    for (String t : List.of("tcp", "unix", "vsock")) {
      assertEquals(0.0, done.value("agent_connections_active", "transport", t), t);
    }
    assertEquals(0.0, done.value("agent_runs_active"));
    assertEquals(0.0, done.value("agent_shell_sessions_active"));
  }

  @Test
  void byteCountersCountWhatWentOverTheWire() {
    // Every byte the host wrote, headers included; the scrapes are not agent connections.
    assertEquals((double) bytesWritten, done.value("agent_received_bytes_total"));
    assertTrue(done.value("agent_sent_bytes_total") >= 4.0 * framesRead + 10,
        "sent " + done.value("agent_sent_bytes_total") + " for " + framesRead + " frames");
    assertTrue(busy.value("agent_received_bytes_total") > 0);
    assertTrue(busy.value("agent_sent_bytes_total") > 0);
  }

  @Test
  void jvmAndProcessMetricsArePresent() {
    for (String name : List.of("jvm_memory_used_bytes", "jvm_threads_live_threads",
        "jvm_classes_loaded_classes", "jvm_gc_memory_allocated_bytes_total",
        "process_uptime_seconds", "process_cpu_usage", "process_files_open_files",
        "system_cpu_count")) {
      assertFalse(done.find(name).isEmpty(), name + " missing");
    }
    // One pool (say the young generation right after a collection) may be empty; the heap not.
    assertTrue(done.find("jvm_memory_used_bytes", "area", "heap").stream()
        .mapToDouble(Scrape.Sample::value).sum() > 0);
    assertTrue(done.value("jvm_threads_live_threads") > 0);
    assertTrue(done.value("process_files_open_files") > 0);
  }

  @Test
  void labelsNeverCarryIdsPathsOrCommands() {
    for (Scrape s : List.of(busy, done)) {
      for (String secret : SECRETS) {
        assertFalse(s.text().contains(secret), "the metrics mention " + secret);
      }
      assertFalse(s.text().contains(TAG), "the metrics mention this test's marker");
      assertFalse(s.text().contains(agent.dir().toString()), "the metrics mention a path");
    }
    Set<String> types = new TreeSet<>();
    for (RequestType t : RequestType.values()) {
      types.add(t.wire());
    }
    types.add("invalid");
    Map<String, Set<String>> allowed = new HashMap<>();
    allowed.put("type", types);
    allowed.put("outcome", Set.of("ok", "error", "busy"));
    allowed.put("transport", Set.of("tcp", "unix", "vsock"));
    for (Scrape.Sample sample : done.samples()) {
      if (!sample.name().startsWith("agent_")) {
        continue;
      }
      for (var label : sample.labels().entrySet()) {
        if (label.getKey().equals("le")) {
          continue;
        }
        Set<String> ok = allowed.get(label.getKey());
        assertTrue(ok != null && ok.contains(label.getValue()),
            sample.name() + " has label " + label);
      }
    }
  }

  @Test
  void onlyTheMetricsPathIsServed() throws Exception {
    HttpResponse<String> r = Scrape.get(metricsPort, "/metrics");
    assertEquals(200, r.statusCode());
    assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/plain"));
    assertEquals(404, Scrape.get(metricsPort, "/").statusCode());
    assertEquals(404, Scrape.get(metricsPort, "/metrics/" + TAG).statusCode());
  }

  @Test
  void withMetricsOnTheAgentListensOnItsAddressAndTheMetricsPort() {
    int own = Integer.parseInt(agent.tcp().substring(agent.tcp().lastIndexOf(':') + 1));
    assertEquals(Set.of(own, metricsPort), listeningWhileOn);
  }

  @Test
  void withMetricsOffNothingElseListens() throws Exception {
    // The agent's own descriptors are what counts: a TCP listener among them but its address is
    // a metrics server it should not have opened.
    try (AgentProcess plain = AgentProcess.start().awaitReady();
        AgentConnection c = AgentConnection.open(plain.tcp())) {
      assertEquals(0, c.call(new JsonObject().put("id", "p").put("type", "ping"))
          .getInteger("exit_code"));
      int own = Integer.parseInt(plain.tcp().substring(plain.tcp().lastIndexOf(':') + 1));
      assertEquals(Set.of(own), ListeningSockets.ports(plain.pid()));
      assertTrue(plain.log().stream().noneMatch(l -> l.contains(" metrics ")), plain.log()
          .toString());
    }
  }

}
