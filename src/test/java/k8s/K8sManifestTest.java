package k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import config.AgentConfig;
import config.ConfigLoader;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.Reader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import protocol.Address;
import protocol.Transport;

/**
 * The dev deployment in {@code k8s-dev/} and the {@code Containerfile}, checked against the code:
 * the configuration they give must load, its ports must be the ones the pod, the probes, the
 * Service and the scrape annotations use, the token must reach the variable the agent reads, and
 * the container must keep the security settings it relies on. Last, the agent is started with
 * the manifest's JVM flags, configuration and token, and answers.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class K8sManifestTest {
  /** The repository's top: the tests' working folder (the agent module's surefire sets it). */
  private static final Path ROOT = Path.of(System.getProperty("user.dir"));
  private static final String TOKEN_VARIABLE = "AGENT_" + "auth_token".toUpperCase(Locale.ROOT);

  private static final List<Map<String, Object>> DOCS = new ArrayList<>();
  private static Map<String, Object> configMap;
  private static Map<String, Object> secret;
  private static Map<String, Object> deployment;
  private static Map<String, Object> service;
  private static Map<String, Object> pod;
  private static Map<String, Object> container;
  private static String configJson;
  private static AgentConfig config;
  private static int agentPort;
  private static int metricsPort;
  private static String token;

  @BeforeAll
  @SuppressWarnings("unchecked")
  static void load(@TempDir Path tmp) throws Exception {
    Yaml yaml = new Yaml(new SafeConstructor(new LoaderOptions()));
    List<Path> files;
    try (Stream<Path> s = Files.list(ROOT.resolve("k8s-dev"))) {
      files = s.filter(p -> p.toString().endsWith(".yaml") || p.toString().endsWith(".yml"))
          .sorted().toList();
    }
    assertFalse(files.isEmpty(), "no manifests in k8s-dev/");
    for (Path f : files) {
      try (Reader r = Files.newBufferedReader(f)) {
        for (Object doc : yaml.loadAll(r)) {
          if (doc != null) {
            assertTrue(doc instanceof Map, f + ": a document that is not a mapping");
            DOCS.add((Map<String, Object>) doc);
          }
        }
      }
    }
    configMap = one("ConfigMap");
    secret = one("Secret");
    deployment = one("Deployment");
    service = one("Service");
    pod = map(map(deployment, "spec", "template"), "spec");
    List<Object> containers = list(pod, "containers");
    assertEquals(1, containers.size(), "one container");
    container = (Map<String, Object>) containers.get(0);

    configJson = (String) map(configMap, "data").get(configFileItem().get("key"));
    assertNotNull(configJson, "the ConfigMap has no entry for the mounted config file");
    token = secretValue((String) map(tokenEnv(), "valueFrom", "secretKeyRef").get("key"));
    Path file = tmp.resolve("agent.json");
    Files.writeString(file, configJson);
    config = ConfigLoader.load(file, Map.of(TOKEN_VARIABLE, token), Map.of());
    agentPort = Address.listen(config.listen().get(0)).port();
    metricsPort = Integer.parseInt(config.metrics().substring(config.metrics()
        .lastIndexOf(':') + 1));
  }

  // ---- the configuration

  @Test
  void everyConfigKeyIsOneTheAgentKnows() {
    JsonObject json = new JsonObject(configJson);
    for (String key : json.fieldNames()) {
      assertTrue(ConfigLoader.KEYS.contains(key), "unknown key " + key);
    }
    assertEquals(1, config.listen().size(), config.listen().toString());
    Address listen = Address.listen(config.listen().get(0));
    assertEquals(Transport.TCP, listen.transport());
    assertFalse(listen.isLoopback(), "the pod must be reachable from outside itself");
    assertNotNull(config.metrics(), "the deployment serves metrics");
    assertEquals("json", config.logFormat());
    assertFalse(json.containsKey("auth_token"), "the token belongs in the Secret");
  }

  @Test
  void theTokenReachesTheVariableTheAgentReads() {
    assertTrue(ConfigLoader.KEYS.contains("auth_token"));
    assertEquals(TOKEN_VARIABLE, tokenEnv().get("name"));
    assertEquals(name(secret), map(tokenEnv(), "valueFrom", "secretKeyRef").get("name"));
    assertFalse(token.isBlank());
    assertEquals(token, config.authToken());
    // Every other AGENT_ variable must be a configuration key too, and service links (which
    // would add <SERVICE>_... variables) stay off.
    for (Object o : list(container, "env")) {
      String n = (String) ((Map<?, ?>) o).get("name");
      if (n.startsWith("AGENT_")) {
        assertTrue(ConfigLoader.KEYS.contains(n.substring(6).toLowerCase(Locale.ROOT)), n);
      }
    }
    assertEquals(Boolean.FALSE, pod.get("enableServiceLinks"));
  }

  // ---- ports, probes, Service and annotations

  @Test
  void portsMatchTheConfiguration() {
    assertEquals(agentPort, containerPort("agent"));
    assertEquals(metricsPort, containerPort("metrics"));
    assertEquals(agentPort, servicePort("agent"));
    assertEquals(metricsPort, servicePort("metrics"));
    for (Object o : list(service, "spec", "ports")) {
      Map<?, ?> p = (Map<?, ?>) o;
      assertEquals(containerPort((String) p.get("name")), resolve(p.get("targetPort")),
          "Service port " + p.get("name"));
    }
    Map<String, Object> podLabels = map(map(deployment, "spec", "template"), "metadata",
        "labels");
    assertTrue(podLabels.entrySet().containsAll(map(service, "spec", "selector").entrySet()),
        "the Service selects the pod");
    assertTrue(podLabels.entrySet().containsAll(map(deployment, "spec", "selector",
        "matchLabels").entrySet()), "the Deployment selects its pods");
    String ns = namespace();
    for (Map<String, Object> d : DOCS) {
      if (!"Namespace".equals(d.get("kind"))) {
        assertEquals(ns, map(d, "metadata").get("namespace"), d.get("kind") + " namespace");
      }
    }
  }

  @Test
  void probesUseTheAgentAndMetricsPorts() {
    Map<String, Object> readiness = map(container, "readinessProbe", "tcpSocket");
    assertEquals(agentPort, resolve(readiness.get("port")));
    Map<String, Object> liveness = map(container, "livenessProbe", "httpGet");
    assertEquals("/metrics", liveness.get("path"));
    assertEquals(metricsPort, resolve(liveness.get("port")));
  }

  @Test
  void scrapeAnnotationsPointAtTheMetricsPort() {
    Map<String, Object> a = map(map(deployment, "spec", "template"), "metadata", "annotations");
    assertEquals("true", a.get("prometheus.io/scrape"));
    assertEquals(Integer.toString(metricsPort), a.get("prometheus.io/port"));
    assertEquals("/metrics", a.get("prometheus.io/path"));
  }

  // ---- the container

  @Test
  void theContainerIsLockedDown() throws Exception {
    Map<String, Object> sc = map(container, "securityContext");
    assertEquals(Boolean.TRUE, sc.get("runAsNonRoot"));
    assertTrue(sc.get("runAsUser") instanceof Integer uid && uid > 0, "numeric runAsUser");
    assertEquals(Boolean.TRUE, sc.get("readOnlyRootFilesystem"));
    assertEquals(Boolean.FALSE, sc.get("allowPrivilegeEscalation"));
    assertEquals(List.of("ALL"), list(sc, "capabilities", "drop"));
    Map<String, Object> podSc = map(pod, "securityContext");
    assertEquals(Boolean.TRUE, podSc.get("runAsNonRoot"));
    assertEquals(sc.get("runAsUser"), podSc.get("runAsUser"));
    // The image's user is the one the pod runs as.
    Matcher user = Pattern.compile("(?m)^USER\\s+(\\d+)").matcher(containerfile());
    assertTrue(user.find(), "the Containerfile sets a numeric USER");
    assertEquals(sc.get("runAsUser"), Integer.parseInt(user.group(1)));
    for (String r : List.of("requests", "limits")) {
      Map<String, Object> res = map(container, "resources", r);
      assertNotNull(res.get("cpu"), r + ".cpu");
      assertNotNull(res.get("memory"), r + ".memory");
    }
  }

  @Test
  void writableFoldersAreEmptyDirsAndTheJvmUsesThem() {
    assertEquals("/tmp", emptyDirMount("/tmp"));
    assertEquals("/work", emptyDirMount("/work"));
    List<String> cmd = command();
    assertTrue(cmd.contains("-Djava.io.tmpdir=/tmp"), cmd.toString());
    assertTrue(cmd.contains("-Djna.tmpdir=/tmp"), cmd.toString());
  }

  @Test
  void theCommandRunsTheImagesJarWithTheMountedConfig() {
    List<String> cmd = command();
    assertEquals("java", cmd.get(0));
    String jar = cmd.get(cmd.indexOf("-jar") + 1);
    assertTrue(containerfile().matches("(?s).*\\nCOPY\\s+target/agent\\.jar\\s+"
        + Pattern.quote(jar) + "\\s.*"), "the Containerfile copies the jar to " + jar);
    // The base is an argument: a registry's JRE image by default, the Debian base that
    // k8s-dev/verify makes here otherwise. The image is built from it, and from nothing else.
    assertTrue(containerfile().matches(
        "(?s).*\\nARG\\s+BASE=(\\S+/)?eclipse-temurin:17-jre\\b.*"),
        "the Containerfile's default base is eclipse-temurin:17-jre");
    Matcher from = Pattern.compile("(?m)^FROM\\s+(\\S+)").matcher(containerfile());
    assertTrue(from.find(), "the Containerfile has a FROM");
    assertEquals("${BASE}", from.group(1));
    assertFalse(from.find(), "one stage only");
    String conf = cmd.get(cmd.indexOf("--conf") + 1);
    String mountPath = null;
    for (Object o : list(container, "volumeMounts")) {
      Map<?, ?> m = (Map<?, ?>) o;
      if (m.get("name").equals(configVolume().get("name"))) {
        mountPath = (String) m.get("mountPath");
      }
    }
    assertEquals(mountPath + "/" + configFileItem().get("path"), conf);
    assertEquals(name(configMap), map(configVolume(), "configMap").get("name"));
  }

  /** The image is also built and run here: CI runs k8s-dev/verify after the tests. */
  @Test
  void ciBuildsAndRunsTheImage() throws Exception {
    Path verify = ROOT.resolve("k8s-dev/verify");
    assertTrue(Files.isExecutable(verify), verify + " must be executable");
    List<String> ci = Files.readAllLines(ROOT.resolve(".ci/run")).stream()
        .map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
    int tests = ci.indexOf("mvn -B verify");
    assertTrue(tests >= 0, "CI runs the README's test command: " + ci);
    assertTrue(ci.indexOf("k8s-dev/verify") > tests, "CI runs k8s-dev/verify after it: " + ci);
  }

  /** The agent, started as the Deployment starts it, answers with the Secret's token. */
  @Test
  void theAgentStartsWithTheManifestsFlagsConfigAndToken(@TempDir Path dir) throws Exception {
    List<String> cmd = command();
    List<String> run = new ArrayList<>();
    run.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    run.addAll(cmd.subList(1, cmd.indexOf("-jar")));
    // Started from classes rather than the jar, so what the jar's manifest grants is given here.
    run.addAll(support.AgentProcess.nativeAccess());
    String cp = System.getProperty("surefire.test.class.path");
    run.addAll(List.of("-cp", cp != null && !cp.isBlank() ? cp
        : System.getProperty("java.class.path"), "verticles.Main"));
    Path conf = dir.resolve("agent.json");
    Files.writeString(conf, configJson);
    int freeMetrics;
    try (var s = new java.net.ServerSocket(0)) {
      freeMetrics = s.getLocalPort();
    }
    // The manifest's configuration, on ephemeral ports so as not to clash with anything here;
    // still every interface, so the token is required.
    run.addAll(List.of("--conf", conf.toString(), "--listen", "tcp://0.0.0.0:0", "--metrics",
        "127.0.0.1:" + freeMetrics));
    ProcessBuilder pb = new ProcessBuilder(run).redirectOutput(ProcessBuilder.Redirect.DISCARD);
    pb.environment().put(TOKEN_VARIABLE, token);
    Process p = pb.start();
    List<String> log = new CopyOnWriteArrayList<>();
    CompletableFuture<Void> ready = new CompletableFuture<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getErrorStream(),
          StandardCharsets.UTF_8))) {
        for (String line; (line = r.readLine()) != null; ) {
          log.add(line);
          if (line.contains("\"event\":\"ready\"")) {
            ready.complete(null);
          }
        }
      } catch (java.io.IOException e) {
        // The agent is gone.
      }
      ready.completeExceptionally(new AssertionError("the agent exited before ready: " + log));
    }, "k8s-agent-log");
    reader.setDaemon(true);
    reader.start();
    try {
      ready.get(30, TimeUnit.SECONDS);
      String address = log.stream().filter(l -> l.contains("\"event\":\"listening\""))
          .map(l -> new JsonObject(l).getString("address")).findFirst().orElseThrow();
      int port = Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
      try (AgentConnection c = AgentConnection.open("tcp://127.0.0.1:" + port)) {
        assertEquals(0, c.call(new JsonObject().put("id", "1").put("type", "ping")
            .put("auth_token", token)).getInteger("exit_code"));
      }
      try (AgentConnection c = AgentConnection.open("tcp://127.0.0.1:" + port)) {
        assertTrue(c.call(new JsonObject().put("id", "2").put("type", "ping"))
            .getString("error").startsWith("Unauthorized"));
      }
      // What the liveness probe asks.
      HttpResponse<String> metrics = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + freeMetrics + "/metrics"))
          .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, metrics.statusCode());
      for (String line : log) {
        new JsonObject(line);
      }
    } finally {
      p.destroy();
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    }
  }

  // ---- helpers

  private static Map<String, Object> one(String kind) {
    List<Map<String, Object>> found = DOCS.stream().filter(d -> kind.equals(d.get("kind")))
        .toList();
    assertEquals(1, found.size(), "one " + kind + " in k8s-dev/");
    return found.get(0);
  }

  private static String namespace() {
    List<Map<String, Object>> ns = DOCS.stream().filter(d -> "Namespace".equals(d.get("kind")))
        .toList();
    return ns.isEmpty() ? (String) map(deployment, "metadata").get("namespace") : name(ns.get(0));
  }

  private static String name(Map<String, Object> doc) {
    return (String) map(doc, "metadata").get("name");
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> map(Map<String, Object> m, String... path) {
    Object o = m;
    for (String key : path) {
      assertTrue(o instanceof Map, "no mapping at " + key + " in " + String.join(".", path));
      o = ((Map<String, Object>) o).get(key);
    }
    assertTrue(o instanceof Map, "no mapping at " + String.join(".", path));
    return (Map<String, Object>) o;
  }

  @SuppressWarnings("unchecked")
  private static <T> List<T> list(Map<String, Object> m, String... path) {
    Map<String, Object> parent = path.length == 1 ? m
        : map(m, java.util.Arrays.copyOf(path, path.length - 1));
    Object o = parent.get(path[path.length - 1]);
    assertTrue(o instanceof List, "no list at " + String.join(".", path));
    return (List<T>) o;
  }

  private static List<String> command() {
    List<String> cmd = new ArrayList<>();
    for (Object o : list(container, "command")) {
      cmd.add(String.valueOf(o));
    }
    if (container.get("args") != null) {
      for (Object o : list(container, "args")) {
        cmd.add(String.valueOf(o));
      }
    }
    assertTrue(cmd.contains("-jar") && cmd.contains("--conf"), cmd.toString());
    return cmd;
  }

  private static Map<String, Object> tokenEnv() {
    for (Object o : list(container, "env")) {
      @SuppressWarnings("unchecked")
      Map<String, Object> e = (Map<String, Object>) o;
      if (TOKEN_VARIABLE.equals(e.get("name"))) {
        return e;
      }
    }
    throw new AssertionError("no " + TOKEN_VARIABLE + " in the container's env");
  }

  private static String secretValue(String key) {
    Object plain = secret.get("stringData") instanceof Map<?, ?> m ? m.get(key) : null;
    if (plain != null) {
      return plain.toString();
    }
    String encoded = (String) map(secret, "data").get(key);
    assertNotNull(encoded, "the Secret has no " + key);
    return new String(java.util.Base64.getDecoder().decode(encoded), StandardCharsets.UTF_8);
  }

  /** The volume that mounts the ConfigMap, and the ConfigMap entry it maps to a file. */
  private static Map<String, Object> configVolume() {
    for (Object o : list(pod, "volumes")) {
      @SuppressWarnings("unchecked")
      Map<String, Object> v = (Map<String, Object>) o;
      if (v.get("configMap") != null) {
        return v;
      }
    }
    throw new AssertionError("no ConfigMap volume");
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> configFileItem() {
    List<Object> items = list(configVolume(), "configMap", "items");
    assertEquals(1, items.size());
    return (Map<String, Object>) items.get(0);
  }

  /** The mount path of the emptyDir volume mounted at {@code path}, or null. */
  private static String emptyDirMount(String path) {
    for (Object o : list(container, "volumeMounts")) {
      Map<?, ?> m = (Map<?, ?>) o;
      if (path.equals(m.get("mountPath"))) {
        for (Object v : list(pod, "volumes")) {
          Map<?, ?> vol = (Map<?, ?>) v;
          if (vol.get("name").equals(m.get("name")) && vol.containsKey("emptyDir")) {
            assertFalse(Boolean.TRUE.equals(m.get("readOnly")), path + " must be writable");
            return path;
          }
        }
      }
    }
    return null;
  }

  private static int containerPort(String name) {
    for (Object o : list(container, "ports")) {
      Map<?, ?> p = (Map<?, ?>) o;
      if (name.equals(p.get("name"))) {
        return (Integer) p.get("containerPort");
      }
    }
    throw new AssertionError("no container port named " + name);
  }

  private static int servicePort(String name) {
    for (Object o : list(service, "spec", "ports")) {
      Map<?, ?> p = (Map<?, ?>) o;
      if (name.equals(p.get("name"))) {
        return (Integer) p.get("port");
      }
    }
    throw new AssertionError("no Service port named " + name);
  }

  /** A port given by number or by the name of a container port. */
  private static int resolve(Object port) {
    return port instanceof Integer n ? n : containerPort((String) port);
  }

  private static String containerfile() {
    try {
      return Files.readString(ROOT.resolve("Containerfile"));
    } catch (java.io.IOException e) {
      throw new AssertionError("no Containerfile at the repository root", e);
    }
  }
}
