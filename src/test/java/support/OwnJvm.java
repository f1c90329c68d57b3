package support;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs a test case's {@code main} in a JVM of its own, on the test class path: for cases that
 * start processes with the native engine, which makes its JVM a subreaper that would take the exit
 * statuses of the other tests' agents in the shared test JVM.
 */
public final class OwnJvm {
  private OwnJvm() {}

  /**
   * Runs {@code main} with {@code args}, and returns what it printed once it exited 0 and printed
   * {@code passed}. Fails if it runs longer than {@code boundS} (a bound for hangs).
   */
  public static String run(Class<?> main, long boundS, String passed, String... args)
      throws Exception {
    String cp = System.getProperty("surefire.test.class.path");
    if (cp == null || cp.isBlank()) {
      cp = System.getProperty("java.class.path");
    }
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", cp,
        main.getName()));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    try {
      CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> {
        try {
          return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
          return e.toString();
        }
      });
      assertTrue(p.waitFor(boundS, TimeUnit.SECONDS), passed + ": still running");
      String text = output.get(boundS, TimeUnit.SECONDS);
      assertEquals(0, p.exitValue(), () -> passed + ": failed\n" + text);
      assertTrue(text.contains(passed), text);
      return text;
    } finally {
      p.destroyForcibly();
    }
  }
}
