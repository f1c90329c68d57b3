package client;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What to run: argv, and optionally a working directory, environment additions, a time limit,
 * bytes for stdin and a cap per output stream. Each setter returns a changed copy.
 */
public record RunRequest(List<String> command, String cwd, Map<String, String> env,
    Duration timeout, byte[] stdin, Long maxOutputBytes) {

  public RunRequest {
    command = List.copyOf(command);
    env = env == null ? Map.of() : Map.copyOf(env);
  }

  public static RunRequest of(String... command) {
    return new RunRequest(List.of(command), null, null, null, null, null);
  }

  public static RunRequest of(List<String> command) {
    return new RunRequest(command, null, null, null, null, null);
  }

  public RunRequest cwd(String dir) {
    return new RunRequest(command, dir, env, timeout, stdin, maxOutputBytes);
  }

  public RunRequest env(Map<String, String> more) {
    Map<String, String> all = new LinkedHashMap<>(env);
    all.putAll(more);
    return new RunRequest(command, cwd, all, timeout, stdin, maxOutputBytes);
  }

  public RunRequest timeout(Duration limit) {
    return new RunRequest(command, cwd, env, limit, stdin, maxOutputBytes);
  }

  public RunRequest stdin(byte[] bytes) {
    return new RunRequest(command, cwd, env, timeout, bytes, maxOutputBytes);
  }

  public RunRequest maxOutputBytes(Long cap) {
    return new RunRequest(command, cwd, env, timeout, stdin, cap);
  }
}
