package protocol;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;

/**
 * A value of an answer that writes itself, for answers too large to be held as maps and lists
 * until they are written.
 */
public interface JsonValue {
  /** The exact bytes {@link #writeJson} writes. */
  long jsonLength();

  void writeJson(JsonGenerator g) throws IOException;
}
