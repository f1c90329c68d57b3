package packaging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged agent, target/agent.jar, as the build leaves it: what it holds, and that what the
 * shade step trimmed is not missed by the paths that load it. The rest of the suite runs the agent
 * from the build's classes, where every dependency is whole; this runs the jar, so the agent
 * module's surefire runs it in the package phase, after the shade step (not in the test phase,
 * whose name pattern it does not match).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AgentJarCheck {
  private static final Path JAR = Path.of("target", "agent.jar");
  private static final long MAX_BYTES = 12L * 1024 * 1024;
  private static final Pattern PING_COUNTED = Pattern.compile(
      "agent_requests_total\\{[^}]*type=\"ping\"[^}]*} 1(\\.0)?\n");

  @TempDir
  Path dir;

  @Test
  void holdsOnlyWhatTheAgentLoads() throws Exception {
    assertTrue(Files.size(JAR) <= MAX_BYTES, "agent.jar is " + Files.size(JAR) + " bytes");
    List<String> natives = new ArrayList<>();
    try (ZipFile z = new ZipFile(JAR.toFile())) {
      assertTrue(z.getEntry("verticles/Main.class") != null, "no agent in the jar");
      assertTrue(z.getEntry("protocol/Frames.class") != null, "no wire module in the jar");
      for (ZipEntry e : java.util.Collections.list(z.entries())) {
        String n = e.getName();
        for (String left : List.of("client/", "cli/", "bench/", "org/jline/", "picocli/",
            "me/tongfei/", "kotlin/collections/", "kotlin/text/",
            "com/sun/jna/platform/win32/", "io/prometheus/metrics/expositionformats/generated/")) {
          assertFalse(n.startsWith(left), () -> "the agent jar holds " + n);
        }
        if (!e.isDirectory() && n.matches(".*\\.(so|dll|dylib|jnilib|a|exe)|.*/[^/.]*spawn-helper")) {
          natives.add(n);
        }
      }
    }
    assertFalse(natives.isEmpty(), "no native libraries at all");
    for (String n : natives) {
      String lower = n.toLowerCase(java.util.Locale.ROOT);
      assertTrue(lower.contains("linux") || n.startsWith("META-INF/native/libnetty_"),
          () -> "a native library for another system: " + n);
      assertTrue(lower.matches(".*(x86[-_]64|amd64|aarch_?64).*"),
          () -> "a native library for another CPU: " + n);
    }
    // Netty's epoll transport for both CPUs, and each CPU's folder for bin/agent.
    for (String cpu : List.of("x86_64", "aarch_64")) {
      assertTrue(natives.contains("META-INF/native/libnetty_transport_native_epoll_" + cpu + ".so"),
          () -> "no epoll transport for " + cpu + ": " + natives);
    }
    for (String[] lib : List.of(new String[] {"x86_64", "libnetty_transport_native_epoll_x86_64.so"},
        new String[] {"x86_64", "libjnidispatch.so"},
        new String[] {"aarch64", "libnetty_transport_native_epoll_aarch_64.so"},
        new String[] {"aarch64", "libjnidispatch.so"})) {
      Path p = JAR.resolveSibling("native").resolve(lib[0]).resolve(lib[1]);
      assertTrue(Files.isRegularFile(p), () -> "not beside the jar: " + p);
    }
  }

  /**
   * The project's own classes concatenate strings with plain StringBuilder calls (the compiler's
   * {@code -XDstringConcat=inline}): none bootstraps StringConcatFactory, which spins method
   * handles at the first use of each concatenation, during start-up and a first request.
   */
  @Test
  void ownClassesSpinNoMethodHandlesToConcatenate() throws Exception {
    List<String> spinning = new ArrayList<>();
    int own = 0;
    try (ZipFile z = new ZipFile(JAR.toFile())) {
      for (ZipEntry e : java.util.Collections.list(z.entries())) {
        String n = e.getName();
        if (!n.endsWith(".class") || !n.matches("(verticles|process|protocol|transport|stream|state|"
            + "files|config|metrics|log|sys)/.*")) {
          continue;
        }
        own++;
        String text = new String(z.getInputStream(e).readAllBytes(),
            StandardCharsets.ISO_8859_1);
        if (text.contains("makeConcatWithConstants")) {
          spinning.add(n);
        }
      }
    }
    assertTrue(own > 100, "only " + own + " of the agent's own classes found");
    assertEquals(List.of(), spinning);
  }

  /** The fallback engine's terminals go through pty4j, whose Kotlin and JNA parts were trimmed. */
  @Test
  void fallbackEngineRunsATerminalFromTheJar() throws Exception {
    String sock = "unix:" + dir.resolve("agent.sock");
    // The agent's own temporary directory: what its libraries unpack there must go with it.
    Path tmp = Files.createDirectory(dir.resolve("tmp"));
    try (Started agent = Started.jar(List.of("-Dagent.spawn.jdk=true", "-Djava.io.tmpdir=" + tmp),
        List.of("--listen", sock)); AgentConnection c = AgentConnection.open(sock)) {
      JsonObject started = c.call(new JsonObject().put("id", "s").put("type", "shell")
          .put("command", new JsonArray().add("/bin/sh")));
      String sid = started.getString("session_id");
      assertTrue(sid != null, () -> "no session: " + started);
      assertEquals(0, c.call(new JsonObject().put("id", "r").put("type", "shell_resize")
          .put("session_id", sid).put("rows", 33).put("cols", 101)).getInteger("exit_code"));
      String script = "stty size; echo sum=$((6*7)); exit 5\n";
      // Not call(), which would pass over output that comes before the input's answer.
      c.send(new JsonObject().put("id", "i").put("type", "shell_input")
          .put("session_id", sid).put("input_base64", Base64.getEncoder().encodeToString(
              script.getBytes(StandardCharsets.UTF_8))));
      StringBuilder out = new StringBuilder();
      Integer exit = null;
      JsonObject inputAnswer = null;
      while (exit == null || inputAnswer == null) {
        JsonObject m = c.receive();
        if ("i".equals(m.getString("id"))) {
          inputAnswer = m;
        } else if ("output".equals(m.getString("shell_event"))) {
          out.append(new String(Base64.getDecoder().decode(m.getString("output_base64")),
              StandardCharsets.UTF_8));
        } else if ("exited".equals(m.getString("shell_event"))) {
          exit = m.getInteger("exit_code");
        }
      }
      assertEquals(0, inputAnswer.getInteger("exit_code"), inputAnswer::encode);
      assertEquals(5, exit, () -> "output: " + out);
      assertTrue(out.toString().contains("33 101"), () -> "output: " + out);
      assertTrue(out.toString().contains("sum=42"), () -> "output: " + out);
      JsonObject bad = c.call(new JsonObject().put("id", "b").put("type", "shell")
          .put("command", new JsonArray().add("/no/such/program")));
      assertTrue(bad.getString("error", "").startsWith("Failed to start shell: "), bad::encode);
      assertTrue(agent.log.stream().anyMatch(l -> l.contains("process_engine engine=jdk")),
          () -> "not the fallback engine: " + agent.log);
    }
    try (java.util.stream.Stream<Path> left = Files.list(tmp)) {
      assertEquals(List.of(), left.map(p -> p.getFileName().toString()).sorted().toList(),
          "left in the agent's temporary directory after it exited");
    }
  }

  /**
   * bin/agent where neither the temporary folder nor the home folder can be written (each a path
   * under a plain file), as on a read-only root or with /tmp mounted noexec: Netty, JNA and
   * junixsocket load the libraries the build put beside the jar (target/native/CPU), so the agent
   * keeps its native transport, its native engine and its terminals. Before, each copied its
   * library out of the jar into a temporary file at every start: the transport fell back to
   * blocking sockets, and JNA's failure took the engine and the terminals with it.
   */
  @Test
  void binAgentLoadsItsNativeLibrariesFromBesideTheJar() throws Exception {
    String sock = "unix:" + dir.resolve("agent.sock");
    Path nowhere = Files.writeString(dir.resolve("plain"), "").resolve("tmp");
    List<String> cmd = List.of(Path.of("bin", "agent").toAbsolutePath().toString(),
        "--listen", sock);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD);
    pb.environment().put("AGENT_JAR", JAR.toAbsolutePath().toString());
    pb.environment().put("AGENT_JAVA_OPTS", "-Djava.io.tmpdir=" + nowhere
        + " -Duser.home=" + nowhere);
    try (Started agent = Started.from(pb); AgentConnection c = AgentConnection.open(sock)) {
      JsonObject ran = c.call(new JsonObject().put("id", "r").put("type", "run")
          .put("command", new JsonArray().add("sh").add("-c").add("echo hi; exit 3")));
      assertEquals(3, ran.getInteger("exit_code"), ran::encode);
      assertEquals("hi\n", ran.getString("stdout"), ran::encode);
      JsonObject shell = c.call(new JsonObject().put("id", "s").put("type", "shell")
          .put("command", new JsonArray().add("/bin/sh")));
      assertTrue(shell.getString("session_id") != null, shell::encode);
      agent.awaitLog("process_engine engine=native");
      // (Netty still warns that the temporary folder is not there: it only looks.)
      assertTrue(agent.log.stream().noneMatch(l -> l.contains("blocking_transport")
          || l.contains("com.sun.jna") || l.contains(" ERROR ")), () -> "log: " + agent.log);
    }
  }

  /** The metrics endpoint serves the text format without the protobuf one. */
  @Test
  void metricsServeFromTheJar() throws Exception {
    String sock = "unix:" + dir.resolve("agent.sock");
    for (int attempt = 1; ; attempt++) {
      int port;
      try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1,
          java.net.InetAddress.getLoopbackAddress())) {
        port = probe.getLocalPort();
      }
      Started agent;
      try {
        agent = Started.jar(List.of(), List.of("--listen", sock, "--metrics",
            "127.0.0.1:" + port));
      } catch (IllegalStateException e) {
        // Another process took the probed port between the probe and the bind.
        if (attempt < 3 && e.getMessage().contains("cannot serve")) {
          continue;
        }
        throw e;
      }
      try (agent; AgentConnection c = AgentConnection.open(sock)) {
        c.call(new JsonObject().put("id", "p").put("type", "ping"));
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + port + "/metrics")).timeout(Duration.ofSeconds(10))
            .GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r::body);
        assertTrue(PING_COUNTED.matcher(r.body()).find(), r::body);
      }
      return;
    }
  }

  /** The agent started from the jar with java -jar, as bin/agent and the image start it. */
  private static final class Started implements AutoCloseable {
    final Process process;
    final List<String> log = new CopyOnWriteArrayList<>();
    final CompletableFuture<Void> ready = new CompletableFuture<>();

    private Started(Process process) {
      this.process = process;
    }

    static Started jar(List<String> jvm, List<String> args) throws Exception {
      List<String> cmd = new ArrayList<>();
      cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      cmd.addAll(jvm);
      cmd.addAll(List.of("-jar", JAR.toString()));
      cmd.addAll(args);
      return from(new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD));
    }

    /** Starts {@code pb}, whose stderr is the agent's log, and waits until it is ready. */
    static Started from(ProcessBuilder pb) throws Exception {
      Started s = new Started(pb.start());
      Thread t = new Thread(s::readLog, "agent-jar-log");
      t.setDaemon(true);
      t.start();
      try {
        s.ready.get(60, TimeUnit.SECONDS);
      } catch (java.util.concurrent.ExecutionException e) {
        s.close();
        throw (IllegalStateException) e.getCause();
      } catch (Exception e) {
        s.close();
        throw e;
      }
      return s;
    }

    /** Waits until a line of the log holds {@code text}: the log is read on another thread. */
    void awaitLog(String text) throws Exception {
      support.Poll.until("'" + text + "' in " + log, 30_000,
          () -> log.stream().anyMatch(l -> l.contains(text)));
    }

    private void readLog() {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getErrorStream(),
          StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          log.add(line);
          if (line.contains(" ready ")) {
            ready.complete(null);
          }
        }
      } catch (IOException e) {
        // The agent is gone.
      }
      ready.completeExceptionally(new IllegalStateException("agent exited before ready: " + log));
    }

    @Override
    public void close() throws Exception {
      process.destroy();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    }
  }
}
