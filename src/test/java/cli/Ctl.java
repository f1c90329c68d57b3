package cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Runs bin/agentctl as a separate process, on the test classpath instead of agentctl.jar. */
final class Ctl {
  static final Path LAUNCHER = Path.of("bin", "agentctl").toAbsolutePath();

  record Result(int exit, byte[] stdout, byte[] stderr) {
    String out() {
      return new String(stdout, StandardCharsets.UTF_8);
    }

    String err() {
      return new String(stderr, StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
      return "exit " + exit + ", stdout [" + out() + "], stderr [" + err() + "]";
    }
  }

  private Ctl() {}

  static String classPath() {
    String cp = System.getProperty("surefire.test.class.path");
    return cp != null && !cp.isBlank() ? cp : System.getProperty("java.class.path");
  }

  /** The environment agentctl needs here: where its classes are, which java, which agent. */
  static Map<String, String> env(String address) {
    Map<String, String> env = new HashMap<>(System.getenv());
    env.put("AGENTCTL_CLASSPATH", classPath());
    env.put("JAVA_HOME", System.getProperty("java.home"));
    env.put("AGENTCTL_CONNECT", address);
    env.remove("AGENT_AUTH_TOKEN");
    return env;
  }

  /** Runs agentctl with these arguments, feeding it {@code stdin} (may be null: empty). */
  static Result run(String address, byte[] stdin, String... args) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(LAUNCHER.toString());
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().clear();
    pb.environment().putAll(env(address));
    Process p = pb.start();
    CompletableFuture<byte[]> out = drain(p.getInputStream());
    CompletableFuture<byte[]> err = drain(p.getErrorStream());
    CompletableFuture.runAsync(() -> {
      try (OutputStream in = p.getOutputStream()) {
        if (stdin != null) {
          in.write(stdin);
        }
      } catch (IOException e) {
        // agentctl did not read it all; its result says why.
      }
    });
    // A bound that only catches hangs.
    if (!p.waitFor(90, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("agentctl " + args[0] + " did not finish: "
          + new String(err.getNow(new byte[0]), StandardCharsets.UTF_8));
    }
    return new Result(p.exitValue(), out.get(10, TimeUnit.SECONDS),
        err.get(10, TimeUnit.SECONDS));
  }

  private static CompletableFuture<byte[]> drain(InputStream in) {
    CompletableFuture<byte[]> f = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try (in) {
        f.complete(in.readAllBytes());
      } catch (IOException e) {
        f.completeExceptionally(e);
      }
    }, "agentctl-output");
    t.setDaemon(true);
    t.start();
    return f;
  }
}
