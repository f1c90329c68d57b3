package client;

import java.util.List;
import java.util.Map;

/** A terminal session to open: argv (null means the agent's default shell), size, cwd, env. */
public record ShellRequest(List<String> command, int rows, int cols, String cwd,
    Map<String, String> env) {

  public ShellRequest {
    command = command == null || command.isEmpty() ? null : List.copyOf(command);
    env = env == null ? Map.of() : Map.copyOf(env);
  }

  public static ShellRequest defaults() {
    return new ShellRequest(null, 24, 80, null, null);
  }
}
