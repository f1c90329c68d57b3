package client;

import io.vertx.core.json.JsonObject;
import java.util.Base64;
import java.util.concurrent.CompletableFuture;

/**
 * A terminal session on the agent, as seen from the connection that started or attached it.
 * Input, resize and close may be sent from any thread.
 */
public final class ShellSession {
  private final AgentClient client;
  private final String id;
  private final ShellListener listener;
  private final CompletableFuture<Integer> exited = new CompletableFuture<>();

  ShellSession(AgentClient client, String id, ShellListener listener) {
    this.client = client;
    this.id = id;
    this.listener = listener;
  }

  public String id() {
    return id;
  }

  /** Types bytes into the terminal; completes when the agent has written them. */
  public CompletableFuture<Void> input(byte[] data) {
    return client.request(new JsonObject().put("type", "shell_input").put("session_id", id)
        .put("input_base64", Base64.getEncoder().encodeToString(data))).thenApply(r -> null);
  }

  /** Sets the terminal's window size. */
  public CompletableFuture<Void> resize(int rows, int cols) {
    return client.request(new JsonObject().put("type", "shell_resize").put("session_id", id)
        .put("rows", rows).put("cols", cols)).thenApply(r -> null);
  }

  /** Ends the session (if it still runs) and frees it on the agent; yields its exit status. */
  public CompletableFuture<Integer> close() {
    return client.request(new JsonObject().put("type", "shell_close").put("session_id", id))
        .thenApply(r -> r.getInteger("exit_code"));
  }

  /**
   * Completes with the exit status when the agent reports that the program ended, after all of
   * its output was delivered; fails if the connection ends first.
   */
  public CompletableFuture<Integer> exited() {
    return exited;
  }

  void deliver(JsonObject event) {
    Long dropped = event.getLong("dropped_bytes");
    if (dropped != null && dropped > 0) {
      listener.dropped(dropped);
    }
    String data = event.getString("output_base64");
    if (data != null) {
      listener.output(Base64.getDecoder().decode(data));
    }
  }

  void ended(int code) {
    exited.complete(code);
  }

  void lost(Throwable cause) {
    exited.completeExceptionally(cause);
  }
}
