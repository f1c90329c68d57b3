package cli;

import client.AgentClient;
import client.OutputListener;
import client.RunRequest;
import client.RunResult;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code agentctl run}: runs a program on the agent, printing its stdout and stderr to ours as
 * they come (raw bytes, streamed), and exits with its exit status.
 */
@Command(name = "run", description = {"Runs a program (no shell) and exits with its status.",
    "Its stdout and stderr are copied to ours as they appear; 124 means it timed out."})
final class RunCommand extends AgentCtl.Sub implements Callable<Integer>, AgentCtl.RemoteStatus {
  /** Local stdin sent with -i must fit in one request frame, base64 and all. */
  static final int MAX_STDIN = 7 * 1024 * 1024;

  @Option(names = "--cwd", paramLabel = "DIR", description = "directory to run in")
  String cwd;

  @Option(names = {"-e", "--env"}, paramLabel = "K=V",
      description = "adds a variable to the environment (repeatable)")
  List<String> env;

  @Option(names = {"-t", "--timeout"}, paramLabel = "DURATION", converter = Durations.class,
      description = "kills the program and everything it started after this long"
          + " (500ms, 5s, 2m); the status is then 124")
  Duration timeout;

  @Option(names = {"-i", "--stdin"},
      description = "sends our stdin (read to its end, at most 7 MiB) as the program's stdin;"
          + " otherwise its stdin is empty")
  boolean stdin;

  @Option(names = "--json", description = "collects the output instead of streaming it and"
      + " prints one JSON object: exit_code, timed_out, stdout, stderr (UTF-8 text; up to the"
      + " agent's output cap), stdout_truncated, stderr_truncated")
  boolean json;

  @Parameters(arity = "1..*", paramLabel = "CMD", description = "program and arguments")
  List<String> command;

  @Override
  public Integer call() throws IOException {
    RunRequest req = RunRequest.of(command).cwd(cwd).env(parseEnv(env)).timeout(timeout)
        // Streamed output need not be cut off; collected output keeps the agent's cap.
        .maxOutputBytes(json ? null : Long.MAX_VALUE);
    if (stdin) {
      byte[] in = System.in.readNBytes(MAX_STDIN + 1);
      if (in.length > MAX_STDIN) {
        throw new IllegalArgumentException("stdin is over " + MAX_STDIN
            + " bytes; copy the data with 'agentctl put' and redirect inside the command");
      }
      req = req.stdin(in);
    }
    OutputStream out = new FileOutputStream(FileDescriptor.out);
    OutputStream err = new FileOutputStream(FileDescriptor.err);
    try (AgentClient c = open()) {
      if (json) {
        RunResult r = AgentClient.await(c.run(req, null));
        Json.print(new io.vertx.core.json.JsonObject().put("exit_code", r.exitCode())
            .put("timed_out", r.timedOut())
            .put("stdout", new String(r.stdout(), StandardCharsets.UTF_8))
            .put("stderr", new String(r.stderr(), StandardCharsets.UTF_8))
            .put("stdout_truncated", r.stdoutTruncated())
            .put("stderr_truncated", r.stderrTruncated()));
        return r.exitCode() < 0 ? 255 : r.exitCode();
      }
      RunResult r = AgentClient.await(c.run(req, copyTo(out, err)));
      if (r.timedOut()) {
        err.write(("agentctl: timed out after " + Durations.format(timeout) + "\n")
            .getBytes(StandardCharsets.UTF_8));
      }
      if (r.stdoutTruncated() || r.stderrTruncated()) {
        err.write("agentctl: the agent cut the output short (its output limit)\n"
            .getBytes(StandardCharsets.UTF_8));
      }
      return r.exitCode() < 0 ? 255 : r.exitCode();
    }
  }

  /** Copies streamed output to our stdout and stderr as it comes. */
  static OutputListener copyTo(OutputStream out, OutputStream err) {
    return (stream, data) -> {
      try {
        OutputStream to = stream == OutputListener.Stream.STDERR ? err : out;
        to.write(data);
        to.flush();
      } catch (IOException e) {
        // Our reader went away (as with `| head`): stop, which ends the remote program too.
        System.exit(141);
      }
    };
  }

  static Map<String, String> parseEnv(List<String> pairs) {
    Map<String, String> env = new LinkedHashMap<>();
    if (pairs != null) {
      for (String p : pairs) {
        int eq = p.indexOf('=');
        if (eq <= 0) {
          throw new IllegalArgumentException("--env needs NAME=VALUE, got '" + p + "'");
        }
        env.put(p.substring(0, eq), p.substring(eq + 1));
      }
    }
    return env;
  }
}
