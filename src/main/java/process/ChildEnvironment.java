package process;

import java.util.HashMap;
import java.util.Map;

/** The environment a started process begins with: the agent's own, less the agent's secrets. */
public final class ChildEnvironment {
  /** Variables that configure the agent's access control; commands never see them. */
  private static final String[] SECRETS = {"AGENT_AUTH_TOKEN", "AGENT_AUTH_TOKEN_FILE"};

  private ChildEnvironment() {}

  /** A fresh, modifiable copy. */
  public static Map<String, String> base() {
    Map<String, String> env = new HashMap<>(System.getenv());
    for (String s : SECRETS) {
      env.remove(s);
    }
    return env;
  }
}
