package process;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The environment a started process begins with: the agent's own, less the agent's secrets. */
public final class ChildEnvironment {
  /** Variables that configure the agent's access control; commands never see them. */
  private static final String[] SECRETS = {"AGENT_AUTH_TOKEN", "AGENT_AUTH_TOKEN_FILE"};

  /** The agent's environment never changes: filtered once. */
  private static final Map<String, String> BASE = filtered();
  /** BASE as name, then {@code NAME=value}, pairs. */
  private static final String[][] BASE_ENTRIES = BASE.entrySet().stream()
      .map(e -> new String[] {e.getKey(), e.getKey() + "=" + e.getValue()})
      .toArray(String[][]::new);

  private ChildEnvironment() {}

  private static Map<String, String> filtered() {
    Map<String, String> env = new HashMap<>(System.getenv());
    for (String s : SECRETS) {
      env.remove(s);
    }
    return env;
  }

  /** A fresh, modifiable copy. */
  public static Map<String, String> base() {
    return new HashMap<>(BASE);
  }

  /**
   * The {@code NAME=value} entries for a child: the base, then {@code extra} over it. Builds no
   * map when {@code extra} is small (the common case of a run with a few variables, or none).
   */
  static String[] entries(Map<String, String> extra) {
    List<String> out = new ArrayList<>(BASE.size() + extra.size());
    for (String[] e : BASE_ENTRIES) {
      if (!extra.containsKey(e[0])) {
        out.add(e[1]);
      }
    }
    for (Map.Entry<String, String> e : extra.entrySet()) {
      out.add(e.getKey() + "=" + e.getValue());
    }
    return out.toArray(new String[0]);
  }
}
