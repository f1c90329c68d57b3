package support;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The agent as users start it: a separate JVM running {@code verticles.Main}, here listening on
 * loopback TCP (an ephemeral port) and on a Unix socket in a temporary folder.
 */
public final class AgentProcess implements AutoCloseable {
  private static final Pattern LISTENING = Pattern.compile("listening address=(\\S+)");
  /** How long {@link #awaitLog} waits for a line: a bound that only catches hangs. */
  private static final long LOG_BOUND_MS = 30_000;

  private final Process process;
  private final List<String> addresses = new CopyOnWriteArrayList<>();
  private final List<String> log = new CopyOnWriteArrayList<>();
  private final CompletableFuture<Void> ready = new CompletableFuture<>();
  private final Path dir;
  /** A folder {@link #start} made for the socket, removed again by {@link #close}. */
  private Path ownDir;

  private AgentProcess(Process process, Path dir) {
    this.process = process;
    this.dir = dir;
  }

  /** Starts an agent on TCP loopback and a Unix socket, with extra arguments, and waits for it. */
  public static AgentProcess start(String... extraArgs) throws IOException {
    Path dir = Files.createTempDirectory("agent-test");
    List<String> args = new ArrayList<>(List.of("--listen", "tcp://127.0.0.1:0", "--listen",
        "unix:" + dir.resolve("agent.sock")));
    args.addAll(List.of(extraArgs));
    AgentProcess a = launch(dir, args, java.util.Map.of());
    a.ownDir = dir;
    return a;
  }

  /** Starts the agent with exactly these arguments and environment additions. */
  public static AgentProcess launch(Path dir, List<String> args, java.util.Map<String, String> env)
      throws IOException {
    return launchWrapped(dir, List.of(), args, env);
  }

  /** Starts the agent under a wrapper command (such as unshare), with these arguments. */
  public static AgentProcess launchWrapped(Path dir, List<String> wrapper, List<String> args,
      java.util.Map<String, String> env) throws IOException {
    return launchWrapped(dir, wrapper, List.of(), args, env);
  }

  /** As {@link #launchWrapped}, with options for the JVM (system properties, say). */
  public static AgentProcess launchWrapped(Path dir, List<String> wrapper, List<String> jvm,
      List<String> args, java.util.Map<String, String> env) throws IOException {
    return launch(dir, wrapper, jvm, classPath(), args, env);
  }

  /** Starts the agent from the classes and jars of {@code classPath}, with these arguments. */
  public static AgentProcess launchFrom(Path dir, String classPath, List<String> args)
      throws IOException {
    return launch(dir, List.of(), List.of(), classPath, args, java.util.Map.of());
  }

  private static AgentProcess launch(Path dir, List<String> wrapper, List<String> jvm,
      String classPath, List<String> args, java.util.Map<String, String> env) throws IOException {
    List<String> cmd = new ArrayList<>(wrapper);
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-Xss512k");
    cmd.addAll(jvm);
    cmd.addAll(nativeAccess());
    cmd.add("-cp");
    cmd.add(classPath);
    cmd.add("verticles.Main");
    cmd.addAll(args);
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD);
    pb.environment().putAll(env);
    AgentProcess a = new AgentProcess(pb.start(), dir);
    a.readLog();
    return a;
  }

  /**
   * What the jar's manifest grants when started with -jar: JDK 22 and later warn on stderr when
   * junixsocket or JNA load native code without it (and the log must stay clean).
   */
  public static List<String> nativeAccess() {
    return Runtime.version().feature() >= 22 ? List.of("--enable-native-access=ALL-UNNAMED")
        : List.of();
  }

  /** The class path the tests run with, which is the agent's with the tests' own added. */
  public static String classPath() {
    String cp = System.getProperty("surefire.test.class.path");
    return cp != null && !cp.isBlank() ? cp : System.getProperty("java.class.path");
  }

  private void readLog() {
    Thread t = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getErrorStream(),
          StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          log.add(line);
          Matcher m = LISTENING.matcher(line);
          if (m.find()) {
            addresses.add(m.group(1));
          }
          if (line.contains(" ready ")) {
            ready.complete(null);
          }
        }
      } catch (IOException e) {
        // The agent is gone.
      }
      ready.completeExceptionally(new IllegalStateException("agent exited before ready: " + log));
    }, "agent-log");
    t.setDaemon(true);
    t.start();
  }

  /** Waits until the agent says it is ready (a bound that only catches hangs). */
  public AgentProcess awaitReady() throws Exception {
    ready.get(30, TimeUnit.SECONDS);
    return this;
  }

  public String tcp() {
    return addresses.stream().filter(a -> a.startsWith("tcp://")).findFirst().orElseThrow();
  }

  public String unix() {
    return addresses.stream().filter(a -> a.startsWith("unix:")).findFirst().orElseThrow();
  }

  public List<String> addresses() {
    return addresses;
  }

  public List<String> log() {
    return log;
  }

  /**
   * Waits until a line of the log matches and returns the first that does. Another thread reads
   * the log from the agent's stderr, so a line the agent wrote before an answer may not be here
   * yet when the answer is. After the bound it fails, naming {@code what} was awaited and
   * showing the whole log.
   */
  public String awaitLog(String what, Predicate<String> match) throws InterruptedException {
    String[] found = new String[1];
    try {
      Poll.until(what, LOG_BOUND_MS,
          () -> (found[0] = log.stream().filter(match).findFirst().orElse(null)) != null);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "; the log:\n" + String.join("\n", log), e);
    }
    return found[0];
  }

  public Path dir() {
    return dir;
  }

  public long pid() {
    return process.pid();
  }

  public Process process() {
    return process;
  }

  /** Waits for the agent to exit by itself and returns its exit code. */
  public int awaitExit(long seconds) throws Exception {
    if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
      throw new AssertionError("agent did not exit within " + seconds + " s");
    }
    return process.exitValue();
  }

  @Override
  public void close() throws Exception {
    if (process.isAlive()) {
      process.destroy();
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    }
    if (ownDir != null) {
      removeTree(ownDir);
    }
  }

  /**
   * Removes the folder {@link #start} made (the socket, and whatever a test wrote beside it), so
   * that test runs do not leave their folders behind. Best effort: what cannot go stays.
   */
  private static void removeTree(Path dir) {
    try (java.util.stream.Stream<Path> all = Files.walk(dir)) {
      for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          // Left as it is.
        }
      }
    } catch (IOException | java.io.UncheckedIOException e) {
      // Left as it is.
    }
  }
}
