package packaging;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/agent as a small VM starts it: every program it starts before the JVM costs the agent's
 * start milliseconds there, so it starts none when JAVA_HOME names the JDK, and one readlink when
 * the JDK is found on PATH. It still picks the class-data archive that matches the JDK's version.
 * A copy of the script runs in a folder laid out as the build leaves one, with a stand-in JDK whose
 * java prints its arguments, and a PATH whose every program notes that it was started.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LauncherTest {
  /** The programs the script could start, each a wrapper that notes its name first. */
  private static final List<String> TOOLS = List.of("dirname", "readlink", "sed", "uname",
      "basename", "cat", "grep");

  /** The folder name bin/agent gives this CPU's native libraries, as bash names the CPU. */
  private static final String CPU = System.getProperty("os.arch").equals("amd64") ? "x86_64"
      : System.getProperty("os.arch");

  @TempDir
  Path dir;

  @Test
  void javaHomeOfJdk17PicksItsArchiveAndStartsNothingElse() throws Exception {
    Path root = layout();
    Path jdk = jdk("jdk17", "17.0.15");
    Files.createFile(root.resolve("target/agent-17.jsa"));
    Launch l = launch(root.resolve("bin/agent"), Map.of("JAVA_HOME", jdk.toString()), "--listen",
        "unix:/x.sock");
    assertEquals(List.of(), l.started, "programs started before the JVM");
    assertTrue(l.args.contains("-XX:SharedArchiveFile=" + root.resolve("target/agent-17.jsa")),
        () -> "arguments: " + l.args);
    assertTrue(l.args.contains("-Djava.library.path=" + root.resolve("target/native/" + CPU)),
        () -> "arguments: " + l.args);
    assertEquals(List.of("-jar", root.resolve("target/agent.jar").toString(), "--listen",
        "unix:/x.sock"), l.args.subList(l.args.size() - 4, l.args.size()));
  }

  @Test
  void javaHomeOfJdk25PicksItsCache() throws Exception {
    Path root = layout();
    Path jdk = jdk("jdk25", "25.0.1");
    Files.createFile(root.resolve("target/agent-25.aot"));
    Files.createFile(root.resolve("target/agent-17.jsa"));
    Launch l = launch(root.resolve("bin/agent"), Map.of("JAVA_HOME", jdk.toString()));
    assertEquals(List.of(), l.started, "programs started before the JVM");
    assertTrue(l.args.contains("-XX:AOTCache=" + root.resolve("target/agent-25.aot")),
        () -> "arguments: " + l.args);
    assertFalse(l.args.stream().anyMatch(a -> a.startsWith("-XX:SharedArchiveFile")),
        () -> "arguments: " + l.args);
  }

  @Test
  void javaOnPathIsFollowedToItsJdkWithOneReadlink() throws Exception {
    Path root = layout();
    Path jdk = jdk("jdk17", "17.0.2");
    Files.createFile(root.resolve("target/agent-17.jsa"));
    // As Debian lays it out: bin/java -> alternatives/java -> the JDK's own bin/java.
    Path alternatives = Files.createDirectories(dir.resolve("alternatives"));
    Files.createSymbolicLink(alternatives.resolve("java"), jdk.resolve("bin/java"));
    Files.createSymbolicLink(dir.resolve("path/java"), alternatives.resolve("java"));
    Launch l = launch(root.resolve("bin/agent"), Map.of());
    assertEquals(List.of("readlink"), l.started, "programs started before the JVM");
    assertTrue(l.args.contains("-XX:SharedArchiveFile=" + root.resolve("target/agent-17.jsa")),
        () -> "arguments: " + l.args);
  }

  @Test
  void aJdkWithoutAVersionStartsWithNoArchive() throws Exception {
    Path root = layout();
    Path jdk = jdk("odd", null);
    Files.createFile(root.resolve("target/agent-17.jsa"));
    Files.createFile(root.resolve("target/agent-0.jsa"));
    Launch l = launch(root.resolve("bin/agent"), Map.of("JAVA_HOME", jdk.toString()));
    assertTrue(l.args.stream().noneMatch(a -> a.contains("agent-")), () -> "arguments: " + l.args);
    assertTrue(l.args.contains("-XX:TieredStopAtLevel=1"), () -> "arguments: " + l.args);
    Files.delete(jdk.resolve("release"));
    Launch none = launch(root.resolve("bin/agent"), Map.of("JAVA_HOME", jdk.toString()));
    assertTrue(none.args.stream().noneMatch(a -> a.contains("agent-")),
        () -> "arguments: " + none.args);
  }

  @Test
  void aMissingJarIsSaidAndExits2() throws Exception {
    Path root = layout();
    Files.delete(root.resolve("target/agent.jar"));
    Path jdk = jdk("jdk17", "17.0.15");
    Process p = start(root.resolve("bin/agent"), Map.of("JAVA_HOME", jdk.toString()));
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(2, p.exitValue(), err);
    assertTrue(err.contains("agent.jar not found"), err);
  }

  @Test
  void aLinkToTheScriptStartsTheJarBesideTheScript() throws Exception {
    Path root = layout();
    Path jdk = jdk("jdk17", "17.0.15");
    Path link = Files.createDirectories(dir.resolve("links")).resolve("agent");
    Files.createSymbolicLink(link, root.resolve("bin/agent"));
    Launch l = launch(link, Map.of("JAVA_HOME", jdk.toString()));
    assertEquals(List.of("readlink"), l.started, "programs started before the JVM");
    assertTrue(l.args.contains(root.resolve("target/agent.jar").toString()),
        () -> "arguments: " + l.args);
  }

  @Test
  void agentctlRunsItsJarDirectlyAndThroughALink() throws Exception {
    Path root = layout();
    Path jdk = jdk("jdk17", "17.0.15");
    Path script = root.resolve("bin/agentctl");
    Files.copy(Path.of("bin", "agentctl"), script);
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path jar = Files.createDirectories(root.resolve("agentctl/target")).resolve("agentctl.jar");
    Files.createFile(jar);
    Launch direct = launch(script, Map.of("JAVA_HOME", jdk.toString()), "ping");
    assertEquals(List.of(), direct.started, "programs started before the JVM");
    int cp = direct.args.indexOf("-cp");
    assertEquals(List.of(jar.toString(), "cli.AgentCtl", "ping"),
        direct.args.subList(cp + 1, direct.args.size()));
    Path link = Files.createDirectories(dir.resolve("links")).resolve("agentctl");
    Files.createSymbolicLink(link, script);
    Launch linked = launch(link, Map.of("JAVA_HOME", jdk.toString()), "ping");
    assertEquals(List.of("readlink"), linked.started, "programs started before the JVM");
    assertEquals(direct.args, linked.args);
  }

  /** A folder as the build leaves it: bin/agent, target/agent.jar and its native libraries. */
  private Path layout() throws IOException {
    Path root = dir.resolve("agent");
    Files.createDirectories(root.resolve("bin"));
    Files.createDirectories(root.resolve("target/native/" + CPU));
    Files.createFile(root.resolve("target/agent.jar"));
    Path script = root.resolve("bin/agent");
    Files.copy(Path.of("bin", "agent"), script);
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
    // PATH holds bash and a wrapper for each program the script might start, and nothing else.
    Path path = Files.createDirectories(dir.resolve("path"));
    Files.createSymbolicLink(path.resolve("bash"), Path.of("/bin/bash"));
    for (String tool : TOOLS) {
      Path real = Path.of("/usr/bin", tool);
      if (!Files.exists(real)) {
        real = Path.of("/bin", tool);
      }
      executable(path.resolve(tool), "#!/bin/sh\necho " + tool + " >> " + dir.resolve("started")
          + "\nexec " + real + " \"$@\"\n");
    }
    return root;
  }

  /** A stand-in JDK whose java prints each argument on a line; its release names the version. */
  private Path jdk(String name, String version) throws IOException {
    Path home = Files.createDirectories(dir.resolve(name));
    Files.createDirectories(home.resolve("bin"));
    executable(home.resolve("bin/java"), "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n");
    Files.writeString(home.resolve("release"), "IMPLEMENTOR=\"Test\"\n"
        + (version == null ? "" : "JAVA_VERSION=\"" + version + "\"\n") + "OS_NAME=\"Linux\"");
    return home;
  }

  private static void executable(Path file, String text) throws IOException {
    Files.writeString(file, text);
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  private Process start(Path script, Map<String, String> env, String... args) throws IOException {
    List<String> cmd = new java.util.ArrayList<>(List.of(script.toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().clear();
    pb.environment().put("PATH", dir.resolve("path").toString());
    pb.environment().putAll(env);
    return pb.start();
  }

  private record Launch(List<String> args, List<String> started) {}

  private Launch launch(Path script, Map<String, String> env, String... args) throws Exception {
    Files.deleteIfExists(dir.resolve("started"));
    Process p = start(script, env, args);
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(30, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), () -> "stderr: " + err);
    assertEquals("", err);
    List<String> started = Files.exists(dir.resolve("started"))
        ? Files.readAllLines(dir.resolve("started")) : List.of();
    return new Launch(out.lines().toList(), started);
  }
}
