package cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentClient;
import client.ShellRequest;
import client.ShellSession;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;
import support.SharedAgent;

/**
 * What a newcomer meets: help on every subcommand, usage errors, completion scripts, --json for
 * scripts, and one-line errors that say what failed and why, for agentctl and the agent alike.
 */
class AgentCtlUsageTest {
  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  static final List<String> SUBCOMMANDS = List.of("ping", "info", "run", "put", "get", "stat",
      "ls", "rm", "mkdir", "shell", "sessions", "attach", "completion");

  @TempDir
  Path tmp;

  static Ctl.Result ctl(String... args) throws Exception {
    return Ctl.run(agent.tcp(), null, args);
  }

  @Test
  void helpOnEverySubcommand() throws Exception {
    Ctl.Result top = ctl("--help");
    assertEquals(0, top.exit(), top::toString);
    for (String sub : SUBCOMMANDS) {
      assertTrue(top.out().contains("\n  " + sub + " "), () -> sub + " missing: " + top);
      Ctl.Result help = ctl(sub, "--help");
      assertEquals(0, help.exit(), help::toString);
      assertTrue(help.out().startsWith("Usage: agentctl " + sub + " "), help::toString);
      assertTrue(help.out().contains("-h, --help"), help::toString);
      assertEquals("", help.err());
      Ctl.Result viaHelp = ctl("help", sub);
      assertEquals(0, viaHelp.exit(), viaHelp::toString);
      assertEquals(help.out(), viaHelp.out());
    }
    assertTrue(ctl("shell", "--help").out().contains("--detach-keys=KEYS"));
    assertTrue(ctl("attach", "--help").out().contains("--detach-keys=KEYS"));
  }

  @Test
  void usageErrorsNameTheOptionAndShowTheSubcommandsUsage() throws Exception {
    Ctl.Result unknown = ctl("rm", "--bogus", "/x");
    assertEquals(2, unknown.exit(), unknown::toString);
    List<String> lines = unknown.err().lines().toList();
    assertEquals("agentctl rm: Unknown option: '--bogus'", lines.get(0));
    assertTrue(lines.get(1).startsWith("Usage: agentctl rm "), unknown::toString);
    assertEquals("", unknown.out());

    Ctl.Result missing = ctl("attach");
    assertEquals(2, missing.exit(), missing::toString);
    assertTrue(missing.err().startsWith("agentctl attach: Missing required parameter: 'ID'\n"
        + "Usage: agentctl attach "), missing::toString);

    Ctl.Result keys = ctl("attach", "--detach-keys", "ctrl-9", "x");
    assertEquals(2, keys.exit(), keys::toString);
    assertTrue(keys.err().startsWith("agentctl attach: Invalid value for option"
        + " '--detach-keys': 'ctrl-9': "), keys::toString);

    Ctl.Result env = ctl("run", "--env", "NOEQUALS", "--", "true");
    assertEquals(2, env.exit(), env::toString);
    assertTrue(env.err().startsWith("agentctl run: --env needs NAME=VALUE, got 'NOEQUALS'\n"
        + "Usage: agentctl run "), env::toString);

    Ctl.Result none = ctl();
    assertEquals(2, none.exit(), none::toString);
    assertTrue(none.err().startsWith("agentctl: Missing a command\nUsage: agentctl "),
        none::toString);
  }

  @Test
  void completionScriptsLoadInBashAndZsh() throws Exception {
    Ctl.Result bash = ctl("completion", "bash");
    assertEquals(0, bash.exit(), bash::toString);
    assertTrue(bash.out().contains("complete -F"), bash::toString);
    Path script = tmp.resolve("agentctl.bash");
    Files.writeString(script, bash.out());
    // bash loads it and then completes agentctl's subcommands.
    Process p = new ProcessBuilder("bash", "-c", "source \"$1\" && complete -p agentctl",
        "bash", script.toString()).redirectErrorStream(true).start();
    String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), said);
    assertTrue(said.contains("agentctl"), said);

    Ctl.Result zsh = ctl("completion", "zsh");
    assertEquals(0, zsh.exit(), zsh::toString);
    assertTrue(zsh.out().startsWith("autoload -U +X compinit && compinit\n"
        + "autoload -U +X bashcompinit && bashcompinit\n"), zsh::toString);
    assertTrue(zsh.out().endsWith(bash.out()));

    Ctl.Result fish = ctl("completion", "fish");
    assertEquals(2, fish.exit(), fish::toString);
    assertTrue(fish.err().startsWith("agentctl completion: Invalid value for parameter 'SHELL':"
        + " 'fish' (use bash or zsh)\n"), fish::toString);
  }

  @Test
  void jsonOutputParsesBack() throws Exception {
    Ctl.Result info = ctl("info", "--json");
    assertEquals(0, info.exit(), info::toString);
    assertEquals(1, info.out().lines().count(), "one document on one line");
    JsonObject i = new JsonObject(info.out());
    assertEquals("0.1.0", i.getString("version"));
    assertTrue(i.getJsonArray("capabilities").contains("shell_events"), info::toString);
    assertTrue(i.getJsonObject("limits").getLong("max_frame_bytes") > 0, info::toString);

    Ctl.Result run = ctl("run", "--json", "--", "sh", "-c", "echo out; echo err >&2; exit 4");
    assertEquals(4, run.exit(), run::toString);
    JsonObject r = new JsonObject(run.out());
    assertEquals(4, r.getInteger("exit_code"));
    assertEquals("out\n", r.getString("stdout"));
    assertEquals("err\n", r.getString("stderr"));
    assertFalse(r.getBoolean("timed_out"));
    assertFalse(r.getBoolean("stdout_truncated"));
    assertFalse(r.getBoolean("stderr_truncated"));
    assertEquals("", run.err());

    Path dir = Files.createDirectory(tmp.resolve("listed"));
    Files.writeString(dir.resolve("b.txt"), "four");
    Files.createDirectory(dir.resolve("a"));
    Ctl.Result ls = ctl("ls", "--json", dir.toString());
    assertEquals(0, ls.exit(), ls::toString);
    JsonArray entries = new JsonArray(ls.out());
    assertEquals(2, entries.size(), ls::toString);
    assertEquals("a", entries.getJsonObject(0).getString("name"));
    assertEquals("dir", entries.getJsonObject(0).getString("type"));
    JsonObject b = entries.getJsonObject(1);
    assertEquals("b.txt", b.getString("name"));
    assertEquals("file", b.getString("type"));
    assertEquals(4L, b.getLong("size"));
    assertTrue(b.getLong("mtime_ms") > 0);
    assertTrue(b.getInteger("mode") > 0);

    Ctl.Result stat = ctl("stat", "--json", dir.resolve("b.txt").toString(), dir.toString());
    assertEquals(0, stat.exit(), stat::toString);
    JsonArray stats = new JsonArray(stat.out());
    assertEquals(dir.resolve("b.txt").toString(), stats.getJsonObject(0).getString("path"));
    assertEquals(4L, stats.getJsonObject(0).getLong("size"));
    assertEquals("dir", stats.getJsonObject(1).getString("type"));

    // A session that runs, and one whose program has exited.
    String running;
    String exited;
    try (AgentClient c = AgentClient.connect(agent.unix())) {
      ShellSession s = AgentClient.await(c.shell(new ShellRequest(List.of("sleep", "60"), 24, 80,
          null, Map.of()), data -> { }));
      running = s.id();
      ShellSession e = AgentClient.await(c.shell(new ShellRequest(List.of("sh", "-c", "exit 6"),
          24, 80, null, Map.of()), data -> { }));
      exited = e.id();
      assertEquals(6, e.exited().get(30, TimeUnit.SECONDS));
    }
    Ctl.Result sessions = ctl("sessions", "--json");
    assertEquals(0, sessions.exit(), sessions::toString);
    JsonArray all = new JsonArray(sessions.out());
    List<String> ids = new ArrayList<>();
    for (int k = 0; k < all.size(); k++) {
      JsonObject s = all.getJsonObject(k);
      ids.add(s.getString("session_id"));
      if (s.getString("session_id").equals(running)) {
        assertTrue(s.getBoolean("running"), sessions::toString);
        assertEquals(new JsonArray().add("sleep").add("60"), s.getJsonArray("command"));
        assertFalse(s.containsKey("exit_code"), sessions::toString);
      }
      if (s.getString("session_id").equals(exited)) {
        assertFalse(s.getBoolean("running"), sessions::toString);
        assertEquals(6, s.getInteger("exit_code"), sessions::toString);
      }
    }
    assertTrue(ids.containsAll(List.of(running, exited)), sessions::toString);
    try (AgentClient c = AgentClient.connect(agent.unix())) {
      AgentClient.await(c.request(new JsonObject().put("type", "shell_close")
          .put("session_id", running)));
      AgentClient.await(c.request(new JsonObject().put("type", "shell_close")
          .put("session_id", exited)));
    }
  }

  @Test
  void agentctlErrorsAreOneLineThatNamesWhatFailed() throws Exception {
    Ctl.Result refused = Ctl.run("tcp://127.0.0.1:1", null, "ping");
    assertEquals(1, refused.exit(), refused::toString);
    assertEquals("agentctl: cannot connect to tcp://127.0.0.1:1: Connection refused\n",
        refused.err());

    Path missing = tmp.resolve("not-here.txt");
    Ctl.Result put = ctl("put", missing.toString(), tmp.resolve("dest").toString());
    assertEquals(1, put.exit(), put::toString);
    assertEquals("agentctl: " + missing + ": no such file or directory\n", put.err());

    Path into = tmp.resolve("no-dir/copy.xml");
    Ctl.Result get = ctl("get", Path.of("pom.xml").toAbsolutePath().toString(), into.toString());
    assertEquals(1, get.exit(), get::toString);
    assertEquals("agentctl: cannot write " + into + ": no such file or directory\n", get.err());

    Ctl.Result stat = ctl("stat", missing.toString());
    assertEquals(1, stat.exit(), stat::toString);
    assertEquals("agentctl: Failed to stat file: No such file or directory: " + missing + "\n",
        stat.err());

    Ctl.Result cwd = ctl("run", "--cwd", missing.toString(), "--", "true");
    assertEquals(125, cwd.exit(), cwd::toString);
    assertTrue(cwd.err().startsWith("agentctl: Failed to run command: cwd " + missing + ": "),
        cwd::toString);
    assertEquals(1, cwd.err().lines().count(), cwd::toString);
  }

  @Test
  void agentCommandLineErrorsAreOneLineTheUsageAndExit2() throws Exception {
    assertAgentRefuses(List.of("--listen", "foo"),
        "agent: key 'listen': unknown listen address 'foo': use vsock://any:PORT,"
            + " tcp://HOST:PORT or unix:/path");
    assertAgentRefuses(List.of("--conf", "nonexist.json"),
        "agent: cannot read config file nonexist.json: no such file or directory");
    assertAgentRefuses(List.of("--conf", tmp.toString()),
        "agent: cannot read config file " + tmp + ": is a directory");
    assertAgentRefuses(List.of("--listen", "tcp://0.0.0.0:0"),
        "agent: key 'listen': refusing to listen on tcp://0.0.0.0:0 without a token: set"
            + " auth_token or auth_token_file (or AGENT_AUTH_TOKEN), or listen on loopback");
    assertAgentRefuses(List.of("--frobnicate"), "agent: unknown option '--frobnicate'");
    assertAgentRefuses(List.of("--listen"), "agent: --listen needs a value");
    assertAgentRefuses(List.of("--token-file", tmp.resolve("no-token").toString()),
        "agent: key 'auth_token_file': cannot read " + tmp.resolve("no-token")
            + ": no such file or directory");
  }

  private void assertAgentRefuses(List<String> args, String line) throws Exception {
    try (AgentProcess a = AgentProcess.launch(tmp, args, Map.of())) {
      assertEquals(2, a.awaitExit(60), () -> String.join("\n", a.log()));
      // The log reader may still be taking the last lines.
      support.Poll.until("the usage", 10_000, () -> a.log().size() >= 3);
      List<String> log = a.log();
      assertEquals(line, log.get(0), () -> String.join("\n", log));
      assertTrue(log.get(1).startsWith("usage: agent "), () -> String.join("\n", log));
      assertFalse(log.stream().anyMatch(l -> l.contains("Exception") || l.contains("\tat ")),
          () -> String.join("\n", log));
    }
  }
}
