package cli;

import client.AgentClient;
import client.OutputListener;
import client.RunRequest;
import client.RunResult;
import client.ShellListener;
import client.ShellRequest;
import client.ShellSession;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code shell} and {@code attach}: a terminal session on the agent, joined to ours.
 *
 * <p>When stdin is a terminal it goes into raw mode for the session (every key, Ctrl-C included,
 * goes to the remote program, except the detach keys), the remote window follows ours, and our
 * settings come back when the session ends, however it ends. The detach keys leave the session
 * running for a later {@code attach}.
 *
 * <p>When stdin is not a terminal, {@code shell} does what {@code ssh -T host < script} does: the
 * script (read to its end) is the stdin of a shell without a terminal, so only what the script
 * prints comes back, stdout to stdout and stderr to stderr, and agentctl exits with the shell's
 * status. {@code attach} with piped input types it into the session, then Ctrl-D.
 */
final class ShellCommands {
  private static final byte CTRL_D = 4;
  /** The shell that reads a piped script. */
  static final List<String> SCRIPT_SHELL = List.of("/bin/sh");

  private ShellCommands() {}

  /** The detach option, shared by shell and attach. */
  static final class Detach {
    @Option(names = "--detach-keys", paramLabel = "KEYS", converter = DetachKeys.Converter.class,
        defaultValue = DetachKeys.DEFAULT,
        description = "keys that leave the session running and agentctl with 0"
            + " (default: ${DEFAULT-VALUE}; ctrl-X or a character, comma-separated;"
            + " empty turns it off)")
    DetachKeys keys;
  }

  @Command(name = "shell", description = {"Opens a shell (or CMD) on a terminal on the agent.",
      "Exits with its status. The detach keys (Ctrl-P Ctrl-Q) leave it running; 'attach'"
          + " returns to it.",
      "With stdin not a terminal, runs stdin as a script in a shell without a terminal"
          + " (as ssh -T does): only the script's own output, and its status."})
  static final class Shell extends AgentCtl.Sub implements Callable<Integer>,
      AgentCtl.RemoteStatus {
    @Option(names = "--cwd", paramLabel = "DIR", description = "directory to start in")
    String cwd;

    @Option(names = {"-e", "--env"}, paramLabel = "K=V",
        description = "adds a variable to the environment (repeatable)")
    List<String> env;

    @picocli.CommandLine.Mixin
    Detach detach = new Detach();

    @Parameters(arity = "0..*", paramLabel = "CMD",
        description = "program and arguments (default: the agent's /bin/sh)")
    List<String> command;

    @Override
    public Integer call() throws IOException {
      if (!Terminal.stdinIsTerminal()) {
        return script(this);
      }
      return session(this, detach.keys, (c, size, listener) -> c.shell(new ShellRequest(command,
          size == null ? 24 : size[0], size == null ? 80 : size[1], cwd,
          RunCommand.parseEnv(env)), listener), false);
    }
  }

  @Command(name = "attach", description = {"Joins an existing shell session.",
      "Its kept output is shown first. Exits with the program's status; the detach keys"
          + " leave it running again."})
  static final class Attach extends AgentCtl.Sub implements Callable<Integer>,
      AgentCtl.RemoteStatus {
    @picocli.CommandLine.Mixin
    Detach detach = new Detach();

    @Parameters(index = "0", paramLabel = "ID", description = "session id (see sessions)")
    String id;

    @Override
    public Integer call() throws IOException {
      return session(this, detach.keys, (c, size, listener) -> c.attach(id, listener), true);
    }
  }

  /** A piped script: the stdin of a shell without a terminal, streamed output, its status. */
  private static int script(Shell cmd) throws IOException {
    byte[] in = System.in.readNBytes(RunCommand.MAX_STDIN + 1);
    if (in.length > RunCommand.MAX_STDIN) {
      throw new IllegalArgumentException("a piped script is over " + RunCommand.MAX_STDIN
          + " bytes; copy it with 'agentctl put' and run it with 'agentctl run'");
    }
    List<String> program = cmd.command == null || cmd.command.isEmpty() ? SCRIPT_SHELL
        : cmd.command;
    RunRequest req = RunRequest.of(program).cwd(cmd.cwd).env(RunCommand.parseEnv(cmd.env))
        .stdin(in).maxOutputBytes(Long.MAX_VALUE);
    OutputStream out = new FileOutputStream(FileDescriptor.out);
    OutputStream err = new FileOutputStream(FileDescriptor.err);
    try (AgentClient c = cmd.open()) {
      RunResult r = AgentClient.await(c.run(req, RunCommand.copyTo(out, err)));
      return r.exitCode() < 0 ? 255 : r.exitCode();
    }
  }

  @FunctionalInterface
  interface Opener {
    CompletableFuture<ShellSession> open(AgentClient c, int[] size, ShellListener listener);
  }

  static int session(AgentCtl.Sub cmd, DetachKeys keys, Opener opener, boolean resizeAfterOpen)
      throws IOException {
    boolean interactive = Terminal.stdinIsTerminal();
    OutputStream out = new FileOutputStream(FileDescriptor.out);
    ShellListener listener = new ShellListener() {
      @Override
      public void output(byte[] data) {
        try {
          out.write(data);
          out.flush();
        } catch (IOException e) {
          // Nowhere to show output any more; the session lives on for a later attach.
          System.exit(141);
        }
      }
    };
    Terminal term = null;
    ExecutorService resizer = null;
    ShellSession s = null;
    CompletableFuture<Void> detached = new CompletableFuture<>();
    String leftRunning = null;
    try (AgentClient c = cmd.open()) {
      int[] size = null;
      if (interactive) {
        // Raw before the session starts, so that its first prompt already meets a raw terminal.
        term = Terminal.raw();
        size = term.size();
      }
      s = AgentClient.await(opener.open(c, size, listener));
      if (interactive) {
        resizer = Executors.newSingleThreadExecutor(r -> {
          Thread t = new Thread(r, "agentctl-resize");
          t.setDaemon(true);
          return t;
        });
        ExecutorService onResize = resizer;
        Terminal local = term;
        ShellSession session = s;
        Runnable follow = () -> {
          int[] now = local.size();
          if (now != null) {
            session.resize(now[0], now[1]);
          }
        };
        term.onResize(() -> onResize.execute(follow));
        if (resizeAfterOpen) {
          onResize.execute(follow);
        }
      }
      ShellSession session = s;
      DetachKeys.Matcher matcher = interactive ? keys.new Matcher() : null;
      Thread feeder = new Thread(() -> feed(new FileInputStream(FileDescriptor.in), session,
          matcher, detached), "agentctl-input");
      feeder.setDaemon(true);
      feeder.start();
      CompletableFuture.anyOf(s.exited(), detached).join();
      if (detached.isDone() && !s.exited().isDone()) {
        leftRunning = s.id();
        return 0;
      }
      int code = AgentClient.await(s.exited());
      try {
        // Frees the session on the agent; the status is already known.
        AgentClient.await(s.close());
      } catch (IOException e) {
        // Someone else closed it first, or the idle timer did.
      }
      return code;
    } catch (java.util.concurrent.CompletionException e) {
      // exited() failed: the connection went; await reports it as the IOException it is.
      AgentClient.await(s.exited());
      throw e;
    } finally {
      if (resizer != null) {
        resizer.shutdownNow();
      }
      if (term != null) {
        term.close();
      }
      if (leftRunning != null) {
        System.err.println("agentctl: detached from session " + leftRunning
            + "; it keeps running. Return with: agentctl" + cmd.root.connectFlag()
            + " attach " + leftRunning);
      }
    }
  }

  /**
   * Types stdin into the session, one request at a time so the bytes arrive in order, watching
   * for the detach keys on a terminal.
   */
  private static void feed(InputStream in, ShellSession s, DetachKeys.Matcher matcher,
      CompletableFuture<Void> detached) {
    byte[] buf = new byte[64 * 1024];
    try {
      while (true) {
        int n = in.read(buf);
        if (n < 0) {
          break;
        }
        byte[] data = matcher == null ? Arrays.copyOf(buf, n) : matcher.filter(buf, n);
        if (data.length > 0) {
          AgentClient.await(s.input(data));
        }
        if (matcher != null && matcher.detached()) {
          detached.complete(null);
          return;
        }
      }
      if (matcher == null && !s.exited().isDone()) {
        // End of input: Ctrl-D, so a shell reading a fresh line sees end of file.
        AgentClient.await(s.input(new byte[] {CTRL_D}));
      }
    } catch (IOException e) {
      // The session ended or the connection went: the main thread reports what matters.
    }
  }
}
