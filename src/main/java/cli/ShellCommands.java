package cli;

import client.AgentClient;
import client.ShellListener;
import client.ShellRequest;
import client.ShellSession;
import java.io.FileDescriptor;
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
 * goes to the remote program), the remote window follows ours, and our settings come back when
 * the session ends, however it ends. When stdin is not a terminal its bytes are typed into the
 * session and, at its end, Ctrl-D; the session's output goes to stdout either way, and agentctl
 * exits with the program's status.
 */
final class ShellCommands {
  private static final byte CTRL_D = 4;

  private ShellCommands() {}

  @Command(name = "shell", description = {"Opens a shell (or CMD) on a terminal on the agent.",
      "Exits with its status. Leaving agentctl without ending the shell keeps the session"
          + " (see sessions, attach)."})
  static final class Shell extends AgentCtl.Sub implements Callable<Integer>,
      AgentCtl.RemoteStatus {
    @Option(names = "--cwd", paramLabel = "DIR", description = "directory to start in")
    String cwd;

    @Option(names = {"-e", "--env"}, paramLabel = "K=V",
        description = "adds a variable to the environment (repeatable)")
    List<String> env;

    @Parameters(arity = "0..*", paramLabel = "CMD",
        description = "program and arguments (default: the agent's /bin/sh)")
    List<String> command;

    @Override
    public Integer call() throws IOException {
      return session(this, (c, size, listener) -> c.shell(new ShellRequest(command,
          size == null ? 24 : size[0], size == null ? 80 : size[1], cwd,
          RunCommand.parseEnv(env)), listener), false);
    }
  }

  @Command(name = "attach", description = {"Joins an existing shell session.",
      "Its kept output is shown first. Exits with the program's status."})
  static final class Attach extends AgentCtl.Sub implements Callable<Integer>,
      AgentCtl.RemoteStatus {
    @Parameters(index = "0", paramLabel = "ID", description = "session id (see sessions)")
    String id;

    @Override
    public Integer call() throws IOException {
      return session(this, (c, size, listener) -> c.attach(id, listener), true);
    }
  }

  @FunctionalInterface
  interface Opener {
    CompletableFuture<ShellSession> open(AgentClient c, int[] size, ShellListener listener);
  }

  static int session(AgentCtl.Sub cmd, Opener opener, boolean resizeAfterOpen)
      throws IOException {
    boolean interactive = Terminal.isTerminal(0);
    int[] size = interactive ? Terminal.size() : null;
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
    try (AgentClient c = cmd.open()) {
      if (interactive) {
        // Raw before the session starts, so that its first prompt already meets a raw terminal.
        term = Terminal.raw();
      }
      ShellSession s = AgentClient.await(opener.open(c, size, listener));
      if (interactive) {
        resizer = Executors.newSingleThreadExecutor(r -> {
          Thread t = new Thread(r, "agentctl-resize");
          t.setDaemon(true);
          return t;
        });
        ExecutorService onResize = resizer;
        Runnable follow = () -> {
          int[] now = Terminal.size();
          if (now != null) {
            s.resize(now[0], now[1]);
          }
        };
        WindowChanges.onChange(() -> onResize.execute(follow));
        if (resizeAfterOpen) {
          onResize.execute(follow);
        }
      }
      Thread feeder = new Thread(() -> feed(System.in, s, interactive), "agentctl-input");
      feeder.setDaemon(true);
      feeder.start();
      int code = AgentClient.await(s.exited());
      try {
        // Frees the session on the agent; the status is already known.
        AgentClient.await(s.close());
      } catch (IOException e) {
        // Someone else closed it first, or the idle timer did.
      }
      return code;
    } finally {
      if (resizer != null) {
        resizer.shutdownNow();
      }
      if (term != null) {
        term.restore();
      }
    }
  }

  /** Types stdin into the session, one request at a time so the bytes arrive in order. */
  private static void feed(InputStream in, ShellSession s, boolean interactive) {
    byte[] buf = new byte[64 * 1024];
    try {
      while (true) {
        int n = in.read(buf);
        if (n < 0) {
          break;
        }
        if (n > 0) {
          AgentClient.await(s.input(Arrays.copyOf(buf, n)));
        }
      }
      if (!interactive && !s.exited().isDone()) {
        // End of input: Ctrl-D, so a shell reading a fresh line sees end of file.
        AgentClient.await(s.input(new byte[] {CTRL_D}));
      }
    } catch (IOException e) {
      // The session ended or the connection went: the main thread reports what matters.
    }
  }
}
