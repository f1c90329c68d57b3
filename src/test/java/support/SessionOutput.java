package support;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** Reads a connection's session output events, other frames passed over. */
public final class SessionOutput {
  private SessionOutput() {}

  /**
   * The session output that {@code c} receives until it satisfies {@code done}, decoded as UTF-8;
   * fails after {@code boundMs}.
   */
  public static String until(AgentConnection c, Predicate<String> done, long boundMs)
      throws Exception {
    return CompletableFuture.supplyAsync(() -> {
      StringBuilder out = new StringBuilder();
      try {
        while (!done.test(out.toString())) {
          JsonObject f = c.receive();
          if ("output".equals(f.getString("shell_event"))) {
            out.append(new String(Base64.getDecoder().decode(f.getString("output_base64")),
                StandardCharsets.UTF_8));
          }
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      return out.toString();
    }).get(boundMs, TimeUnit.MILLISECONDS);
  }
}
