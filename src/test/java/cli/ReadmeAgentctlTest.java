package cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentClient;
import client.ShellRequest;
import client.ShellSession;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import support.SharedAgent;

/**
 * The README stays true: every command of its agentctl block runs, in order and in one bash, from
 * a folder laid out like the repository's root, against a started agent. Three names are swapped
 * for this run's: the agent's address, the demo folder (so that parallel runs do not meet), and
 * SESSION_ID, for a session left running the way a detached {@code shell} leaves it (there is no
 * terminal here to detach from; InteractiveShellTest does that).
 */
class ReadmeAgentctlTest {
  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  @TempDir
  Path tmp;

  static List<String> readmeCommands() throws Exception {
    String readme = Files.readString(Path.of("README.md"));
    int at = readme.indexOf("## Talk to it with agentctl");
    assertTrue(at >= 0, "README has no agentctl section");
    String section = readme.substring(at, readme.indexOf("\n## ", at + 1));
    List<String> lines = new ArrayList<>();
    boolean inBlock = false;
    for (String line : section.split("\n", -1)) {
      if (line.startsWith("    ")) {
        inBlock = true;
        lines.add(line.substring(4));
      } else if (inBlock) {
        break;
      }
    }
    return lines;
  }

  @Test
  void everyCommandOfTheReadmesAgentctlSectionWorks() throws Exception {
    List<String> commands = readmeCommands();
    assertTrue(commands.size() >= 15, () -> "too few commands: " + commands);
    for (String sub : AgentCtlUsageTest.SUBCOMMANDS) {
      assertTrue(commands.stream().anyMatch(c -> c.contains("bin/agentctl " + sub + " ")
          || c.contains("bin/agentctl " + sub + "\t") || c.matches(".*bin/agentctl " + sub
          + "( |$).*")), () -> "the README shows no " + sub);
    }

    // A folder laid out like the repository's root, so that what `get` copies lands here.
    Path root = Files.createDirectory(tmp.resolve("repo"));
    Files.createSymbolicLink(root.resolve("bin"), Path.of("bin").toAbsolutePath());
    Files.copy(Path.of("pom.xml"), root.resolve("pom.xml"));
    Path demo = tmp.resolve("demo");
    String session = leaveASessionRunning();

    StringBuilder script = new StringBuilder();
    for (int i = 0; i < commands.size(); i++) {
      String c = commands.get(i).replace("tcp://127.0.0.1:52000", agent.tcp())
          .replace("/tmp/agentctl-demo", demo.toString()).replace("SESSION_ID", session);
      script.append("echo '@@ ").append(i).append(" start'\n").append(c).append('\n')
          .append("echo \"@@ ").append(i).append(" rc=$?\"\n");
    }
    ProcessBuilder pb = new ProcessBuilder("bash", "-c", script.toString()).directory(
        root.toFile()).redirectErrorStream(true);
    pb.environment().putAll(Ctl.env(agent.tcp()));
    Process p = pb.start();
    p.getOutputStream().close();
    CompletableFuture<String> said = CompletableFuture.supplyAsync(() -> {
      try {
        return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the README's commands did not finish");
    String out = said.get(10, TimeUnit.SECONDS);

    for (int i = 0; i < commands.size(); i++) {
      int n = i;
      assertTrue(out.contains("@@ " + i + " rc=0\n"), () -> "README command failed: "
          + commands.get(n) + "\n" + out);
    }
    // What the lines say they do.
    assertEquals("debug=1\n", Files.readString(root.resolve("report.txt")), out);
    assertTrue(out.contains("hi\nstatus 3\n"), out);
    Matcher json = Pattern.compile("(?m)^\\[\\{\"name\":\"out\",\"type\":\"dir\".*"
        + "\\{\"name\":\"pom.xml\",\"type\":\"file\".*\\}\\]$").matcher(out);
    assertTrue(json.find(), out);
    assertTrue(out.contains(session + "  running"), out);
    assertTrue(!Files.exists(demo), "rm -r left the demo folder");
  }

  /** A shell session that nobody is attached to, as `shell` leaves one after detaching. */
  private static String leaveASessionRunning() throws Exception {
    CompletableFuture<Void> ready = new CompletableFuture<>();
    StringBuilder seen = new StringBuilder();
    try (AgentClient c = AgentClient.connect(agent.unix())) {
      ShellSession s = AgentClient.await(c.shell(new ShellRequest(List.of("/bin/sh"), 24, 80,
          null, Map.of("PS1", "demo$ ")), data -> {
            seen.append(new String(data, StandardCharsets.UTF_8));
            if (seen.indexOf("demo$ ") >= 0) {
              ready.complete(null);
            }
          }));
      ready.get(60, TimeUnit.SECONDS);
      return s.id();
    }
  }
}
