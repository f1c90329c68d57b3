package client;

import java.io.IOException;

/**
 * The agent answered a request with {@code error}. {@link #getMessage()} is the agent's text,
 * unchanged, so callers can match the prefixes the protocol fixes ("Failed to read file: ...").
 */
public final class AgentError extends IOException {
  private static final long serialVersionUID = 1L;

  public AgentError(String message) {
    super(message);
  }
}
