package cli;

import java.io.PrintStream;

/**
 * What {@code --json} prints: exactly one JSON document per command, on stdout, followed by a
 * newline. The field names are the wire protocol's (docs/protocol.md) wherever it has one, so
 * that a script sees the same names in both places.
 */
final class Json {
  private Json() {}

  static void print(Object document) {
    String text = document instanceof io.vertx.core.json.JsonObject o ? o.encode()
        : ((io.vertx.core.json.JsonArray) document).encode();
    PrintStream out = System.out;
    out.println(text);
    out.flush();
  }
}
