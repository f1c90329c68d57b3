package client;

import io.vertx.core.json.JsonObject;
import java.util.List;

/** The agent's answer to {@code info}; {@code raw} keeps fields this client does not know yet. */
public record AgentInfo(String version, String protocol, List<String> capabilities,
    JsonObject limits, long uptimeMs, JsonObject raw) {

  public boolean can(String capability) {
    return capabilities.contains(capability);
  }
}
