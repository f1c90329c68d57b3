package bench;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * The training run behind the class-data archive that {@code mvn package} builds: starts the agent
 * jar in its own JVM, as {@code bin/agent} does, with the archive's flag, on a private Unix socket
 * and a loopback TCP port, sends it one of every common request, and shuts it down. Every class
 * that was loaded goes into the archive, so a real start skips loading and verifying them. The
 * archive records the agent jar alone as its class path, which is what {@code bin/agent} runs.
 *
 * <p>Arguments: the agent jar, then the JVM flags for the agent (the archive's flag first).
 * {@code --static-archive=FILE} in place of a JVM flag (JDK 17 to 24) has the run list the classes
 * it loads, then dumps them into one static archive, FILE: the JDK's own default archive is then
 * not needed at all, and classes of it that the agent never loads are not mapped.
 */
public final class Train {
  private Train() {}

  public static void main(String[] args) throws Exception {
    Path jar = Path.of(args[0]).toRealPath();
    Path dir = Files.createTempDirectory("agent-train");
    Path sock = dir.resolve("agent.sock");
    int port;
    try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1,
        java.net.InetAddress.getLoopbackAddress())) {
      port = probe.getLocalPort();
    }
    String tcp = "tcp://127.0.0.1:" + port;
    String javaCmd = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> flags = new ArrayList<>();
    Path staticArchive = null;
    Path classList = null;
    for (String a : List.of(args).subList(1, args.length)) {
      if (a.startsWith("--static-archive=")) {
        staticArchive = Path.of(a.substring("--static-archive=".length())).toAbsolutePath();
        classList = Path.of(staticArchive + ".classlist");
        flags.add("-XX:DumpLoadedClassList=" + classList);
      } else {
        flags.add(a);
      }
    }
    // Both transports and the usual log level, so that their classes are in the archive too.
    List<String> cmd = new ArrayList<>();
    cmd.add(javaCmd);
    cmd.addAll(flags);
    cmd.addAll(List.of("-jar", jar.toString(), "--listen", "unix:" + sock,
        "--listen", tcp));
    Process agent = new ProcessBuilder(cmd).inheritIO().start();
    try {
      long deadline = System.nanoTime() + 60_000_000_000L;
      AgentConnection c = null;
      while (c == null) {
        try {
          c = AgentConnection.open("unix:" + sock);
        } catch (java.io.IOException e) {
          if (System.nanoTime() > deadline || !agent.isAlive()) {
            throw new IllegalStateException("the agent did not start", e);
          }
          Thread.sleep(20);
        }
      }
      exercise(c, dir);
      try (AgentConnection t = AgentConnection.open(tcp)) {
        exercise(t, dir);
      }
      c.send(req("bye", "shutdown"));
      c.receive();
      // The archive is written as the agent's JVM exits.
      if (!agent.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)) {
        throw new IllegalStateException("the agent did not exit after shutdown");
      }
      if (agent.exitValue() != 0) {
        throw new IllegalStateException("the agent exited with " + agent.exitValue());
      }
    } finally {
      agent.destroyForcibly();
      removeTree(dir);
    }
    if (staticArchive != null) {
      dump(javaCmd, flags, classList, staticArchive, jar);
    }
  }

  /**
   * Dumps the classes of {@code classList} into the static archive {@code archive}, with the
   * agent jar (by the path {@code bin/agent} gives it) as its class path. A JVM that cannot dump
   * one leaves no archive, and the build goes on: {@code bin/agent} then starts without it.
   */
  private static void dump(String javaCmd, List<String> flags, Path classList,
      Path archive, Path jar) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(javaCmd, "-Xshare:dump",
        "-XX:SharedClassListFile=" + classList, "-XX:SharedArchiveFile=" + archive));
    flags.stream().filter(f -> !f.startsWith("-XX:DumpLoadedClassList=")).forEach(cmd::add);
    cmd.addAll(List.of("-cp", jar.toString()));
    try {
      Process p = new ProcessBuilder(cmd).inheritIO().start();
      if (!p.waitFor(300, java.util.concurrent.TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        Files.deleteIfExists(archive);
        System.err.println("train: no class-data archive, the dump failed: " + cmd);
      }
    } finally {
      Files.deleteIfExists(classList);
    }
  }

  /** Removes the training's folder, so that each build leaves nothing in the temporary folder. */
  private static void removeTree(Path dir) throws java.io.IOException {
    try (java.util.stream.Stream<Path> all = Files.walk(dir)) {
      for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  private static JsonObject req(String id, String type) {
    return new JsonObject().put("id", id).put("type", type);
  }

  private static void exercise(AgentConnection c, Path dir) throws Exception {
    String f = dir.resolve("f.txt").toString();
    String b64 = Base64.getEncoder().encodeToString("training".getBytes(StandardCharsets.UTF_8));
    c.call(req("1", "ping"));
    c.call(req("2", "info"));
    c.call(req("3", "run").put("command", new JsonArray().add("/bin/true")));
    c.call(req("4", "run").put("command", new JsonArray().add("/bin/sh").add("-c").add("echo x"))
        .put("timeout_ms", 10_000).put("stdin_base64", b64).put("output_encoding", "base64"));
    c.call(req("5", "run").put("command", new JsonArray().add("/bin/echo").add("s"))
        .put("stream", true));
    c.call(req("6", "write_file").put("path", f).put("content_base64", b64));
    c.call(req("7", "read_file").put("path", f));
    c.call(req("8", "read_file").put("path", f).put("offset", 1).put("length", 3));
    c.call(req("9", "stat").put("path", f));
    c.call(req("10", "list_dir").put("path", dir.toString()));
    c.call(req("11", "mkdir").put("path", dir.resolve("d").toString()).put("recursive", true));
    c.call(req("12", "rename").put("path", f).put("new_path", f + ".2"));
    c.call(req("13", "remove_file").put("path", f + ".2"));
    c.call(req("14", "read_file").put("path", "relative"));
    c.writeFrame("not json".getBytes(StandardCharsets.UTF_8));
    c.receive();
    JsonObject started = c.call(req("15", "shell").put("command",
        new JsonArray().add("/bin/sh")));
    String sid = started.getString("session_id");
    c.call(req("16", "shell_resize").put("session_id", sid).put("rows", 30).put("cols", 100));
    c.call(req("17", "shell_input").put("session_id", sid)
        .put("input_base64", Base64.getEncoder().encodeToString("echo hi\n".getBytes(
            StandardCharsets.UTF_8))));
    c.call(req("18", "list_sessions"));
    c.call(req("19", "shell_close").put("session_id", sid));
  }
}
