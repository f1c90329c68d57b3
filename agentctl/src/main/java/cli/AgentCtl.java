package cli;

import client.AgentClient;
import client.AgentInfo;
import client.SessionSummary;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * {@code agentctl}: talks to a guest agent from a shell. Each subcommand opens one connection,
 * does its work and exits with a status a script can use.
 *
 * <p>Exit statuses: 0 for success; for {@code run}, {@code shell} and {@code attach}, the remote
 * program's own status (124 when a run timed out); 1 when the agent refused a request or could
 * not be reached (125 for {@code run}, {@code shell} and {@code attach}, so that it is not
 * mistaken for the program's status); 2 for a command line that does not parse.
 */
@Command(name = "agentctl", mixinStandardHelpOptions = true, version = "agentctl 0.1.0",
    description = "Talks to a guest agent: runs commands, copies files, opens shells.",
    subcommands = {AgentCtl.Ping.class, AgentCtl.Info.class, RunCommand.class,
        FileCommands.Put.class, FileCommands.Get.class, FileCommands.Stat.class,
        FileCommands.Ls.class, FileCommands.Rm.class, FileCommands.Mkdir.class,
        ShellCommands.Shell.class, AgentCtl.Sessions.class, ShellCommands.Attach.class,
        AgentCtl.Completion.class, CommandLine.HelpCommand.class},
    footer = {"", "The address is tcp://HOST:PORT, unix:PATH, vsock://CID:PORT or fc:PATH[:PORT]"
        + " (Firecracker's vsock socket; PORT defaults to 52000)."})
public final class AgentCtl implements Runnable {
  static final String DEFAULT_ADDRESS = "tcp://127.0.0.1:52000";

  @Option(names = {"-c", "--connect"}, paramLabel = "ADDRESS", scope = ScopeType.INHERIT,
      description = "where the agent listens (default: $AGENTCTL_CONNECT, else "
          + DEFAULT_ADDRESS + ")")
  String connect;

  @Option(names = "--token", paramLabel = "TOKEN", scope = ScopeType.INHERIT,
      description = "sent as auth_token with every request (default: $AGENT_AUTH_TOKEN)")
  String token;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  /** Exit status when the agent refuses a request or cannot be reached. */
  static final int FAILED = 1;
  /** The same for commands whose status is otherwise the remote program's. */
  static final int REMOTE_FAILED = 125;

  /** Marks commands that exit with a remote program's status. */
  interface RemoteStatus {}

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "Missing a command");
  }

  String address() {
    if (connect != null && !connect.isBlank()) {
      return connect;
    }
    String env = System.getenv("AGENTCTL_CONNECT");
    return env != null && !env.isBlank() ? env : DEFAULT_ADDRESS;
  }

  String authToken() {
    if (token != null) {
      return token;
    }
    String env = System.getenv("AGENT_AUTH_TOKEN");
    return env != null && !env.isEmpty() ? env : null;
  }

  AgentClient open() throws IOException {
    return AgentClient.connect(address(), authToken());
  }

  /** {@code " -c ADDRESS"} when the address was given on the command line, else nothing. */
  String connectFlag() {
    return connect != null && !connect.isBlank() ? " -c " + connect : "";
  }

  /** Base of every subcommand: the way to the global options. */
  abstract static class Sub {
    @CommandLine.ParentCommand
    AgentCtl root;

    AgentClient open() throws IOException {
      return root.open();
    }

    /** Applies one request to each path in turn, on one connection; stops at the first error. */
    int eachPath(List<String> paths,
        java.util.function.BiFunction<AgentClient, String, java.util.concurrent.CompletableFuture<?>>
            request) throws IOException {
      try (AgentClient c = open()) {
        for (String p : paths) {
          AgentClient.await(request.apply(c, p));
        }
        return 0;
      }
    }
  }

  @Command(name = "ping", description = "Checks that the agent answers.")
  static final class Ping extends Sub implements Callable<Integer> {
    @Override
    public Integer call() throws IOException {
      try (AgentClient c = open()) {
        long start = System.nanoTime();
        AgentClient.await(c.ping());
        System.out.printf("ok: %s answered in %.1f ms%n", c.address(),
            (System.nanoTime() - start) / 1e6);
        return 0;
      }
    }
  }

  @Command(name = "info", description = "Shows the agent's version, capabilities and limits.")
  static final class Info extends Sub implements Callable<Integer> {
    @Option(names = "--json", description = "prints the agent's info object as it sent it:"
        + " version, protocol, capabilities, limits, uptime_ms")
    boolean json;

    @Override
    public Integer call() throws IOException {
      try (AgentClient c = open()) {
        AgentInfo i = AgentClient.await(c.info());
        if (json) {
          Json.print(i.raw());
          return 0;
        }
        PrintWriter out = new PrintWriter(System.out, true);
        out.printf("version:      %s%n", i.version());
        out.printf("protocol:     %s%n", i.protocol());
        out.printf("uptime:       %.1f s%n", i.uptimeMs() / 1000.0);
        out.printf("capabilities: %s%n", String.join(", ", i.capabilities()));
        out.println("limits:");
        for (Map.Entry<String, Object> e : i.limits()) {
          out.printf("  %s: %s%n", e.getKey(), e.getValue());
        }
        return 0;
      }
    }
  }

  @Command(name = "sessions", description = "Lists the agent's shell sessions.")
  static final class Sessions extends Sub implements Callable<Integer> {
    @Option(names = "--json", description = "prints a JSON array with one object per session:"
        + " session_id, command, running, and exit_code once it has exited")
    boolean json;

    @Override
    public Integer call() throws IOException {
      try (AgentClient c = open()) {
        List<SessionSummary> list = AgentClient.await(c.sessions());
        if (json) {
          JsonArray all = new JsonArray();
          for (SessionSummary s : list) {
            JsonObject o = new JsonObject().put("session_id", s.sessionId())
                .put("command", new JsonArray(new java.util.ArrayList<>(s.command())))
                .put("running", s.running());
            if (s.exitCode() != null) {
              o.put("exit_code", s.exitCode());
            }
            all.add(o);
          }
          Json.print(all);
          return 0;
        }
        if (list.isEmpty()) {
          System.err.println("no sessions");
          return 0;
        }
        int w = list.stream().mapToInt(s -> s.sessionId().length()).max().orElse(10);
        System.out.printf("%-" + w + "s  %-10s  %s%n", "SESSION", "STATE", "COMMAND");
        for (SessionSummary s : list) {
          String state = s.running() ? "running"
              : "exited(" + (s.exitCode() == null ? "?" : s.exitCode()) + ")";
          System.out.printf("%-" + w + "s  %-10s  %s%n", s.sessionId(), state,
              String.join(" ", s.command()));
        }
        return 0;
      }
    }
  }

  /** {@code agentctl completion bash|zsh}: a completion script made by picocli. */
  @Command(name = "completion", description = {"Prints a completion script for bash or zsh.",
      "bash: source <(agentctl completion bash)   zsh: source <(agentctl completion zsh)"})
  static final class Completion implements Callable<Integer> {
    @CommandLine.Parameters(index = "0", paramLabel = "SHELL", description = "bash or zsh")
    String shell;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      if (!shell.equals("bash") && !shell.equals("zsh")) {
        throw new CommandLine.ParameterException(spec.commandLine(),
            "Invalid value for parameter 'SHELL': '" + shell + "' (use bash or zsh)");
      }
      String script = picocli.AutoComplete.bash("agentctl", spec.root().commandLine());
      if (shell.equals("zsh")) {
        // picocli's script serves zsh through zsh's bash-completion layer.
        script = "autoload -U +X compinit && compinit\n"
            + "autoload -U +X bashcompinit && bashcompinit\n" + script;
      }
      System.out.print(script);
      return 0;
    }
  }

  /** Builds the command line with agentctl's error handling and parser settings. */
  static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new AgentCtl());
    // --help (and --version) on every subcommand, and `agentctl help SUBCOMMAND`.
    for (CommandLine sub : cl.getSubcommands().values()) {
      if (!(sub.getCommand() instanceof CommandLine.HelpCommand)) {
        sub.getCommandSpec().mixinStandardHelpOptions(true);
      }
    }
    // Everything after the command's first word belongs to the remote program.
    cl.getSubcommands().get("run").setStopAtPositional(true);
    cl.getSubcommands().get("shell").setStopAtPositional(true);
    cl.setParameterExceptionHandler((e, args) -> {
      // A usage error: one line that names the option, then that subcommand's usage.
      CommandLine line = e.getCommandLine();
      line.getErr().println("agentctl" + subcommandName(line) + ": " + e.getMessage());
      CommandLine.UnmatchedArgumentException.printSuggestions(e, line.getErr());
      line.usage(line.getErr());
      return 2;
    });
    cl.setExecutionExceptionHandler((e, line, parsed) -> {
      boolean remote = line.getCommand() instanceof RemoteStatus;
      if (e instanceof IllegalArgumentException) {
        System.err.println("agentctl" + subcommandName(line) + ": " + e.getMessage());
        line.usage(System.err);
        return 2;
      }
      System.err.println("agentctl: " + Failures.describe(e));
      return remote ? REMOTE_FAILED : FAILED;
    });
    return cl;
  }

  private static String subcommandName(CommandLine line) {
    return line.getParent() == null ? "" : " " + line.getCommandName();
  }

  public static void main(String[] args) {
    int code = commandLine().execute(args);
    System.out.flush();
    System.exit(code);
  }
}
