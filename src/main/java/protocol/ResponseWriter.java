package protocol;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;

/** Serialises responses to frames, and tells how many bytes a string takes once escaped. */
public final class ResponseWriter {
  private static final JsonFactory JSON = new JsonFactory();

  private ResponseWriter() {}

  /** The whole frame (length header and JSON body) for a response. */
  public static byte[] frame(Response r) {
    Out out = new Out();
    out.write(new byte[Frames.HEADER], 0, Frames.HEADER);
    write(r, out);
    byte[] bytes = out.buf();
    int bodyLength = out.size() - Frames.HEADER;
    Frames.writeLength(bytes, 0, bodyLength);
    return out.size() == bytes.length ? bytes : java.util.Arrays.copyOf(bytes, out.size());
  }

  /** The JSON body alone. */
  public static byte[] json(Response r) {
    Out out = new Out();
    write(r, out);
    return out.toByteArray();
  }

  private static void write(Response r, Out out) {
    try (JsonGenerator g = JSON.createGenerator(out)) {
      value(g, r.fields());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void value(JsonGenerator g, Object v) throws IOException {
    if (v instanceof String s) {
      g.writeString(s);
    } else if (v instanceof Integer i) {
      g.writeNumber(i);
    } else if (v instanceof Long l) {
      g.writeNumber(l);
    } else if (v instanceof Boolean b) {
      g.writeBoolean(b);
    } else if (v instanceof byte[] bytes) {
      g.writeBinary(bytes);
    } else if (v instanceof Map<?, ?> m) {
      g.writeStartObject();
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (e.getValue() != null) {
          g.writeFieldName(e.getKey().toString());
          value(g, e.getValue());
        }
      }
      g.writeEndObject();
    } else if (v instanceof List<?> list) {
      g.writeStartArray();
      for (Object o : list) {
        value(g, o);
      }
      g.writeEndArray();
    } else if (v instanceof Number n) {
      g.writeNumber(n.toString());
    } else if (v instanceof JsonValue j) {
      j.writeJson(g);
    } else {
      throw new IllegalArgumentException("cannot write " + v.getClass());
    }
  }

  /**
   * Bytes that {@code s} takes inside a JSON string literal, quotes excluded, exactly as
   * {@link #frame} writes it.
   */
  public static long escapedLength(CharSequence s) {
    long n = 0;
    for (int i = 0; i < s.length(); i++) {
      n += escapedLength(s.charAt(i));
    }
    return n;
  }

  /**
   * Bytes one UTF-16 unit takes when written. The writer escapes the controls below U+0020 (the
   * five with a short form as two bytes, the others as a six-byte escape), the quote and the
   * backslash, and writes every surrogate, paired or not, as a six-byte escape of its own: a
   * character outside the BMP costs twelve bytes, not the four of its UTF-8 form.
   */
  public static int escapedLength(char c) {
    if (c < 0x20) {
      return (c == '\n' || c == '\t' || c == '\r' || c == '\b' || c == '\f') ? 2 : 6;
    }
    if (c == '"' || c == '\\') {
      return 2;
    }
    if (c < 0x80) {
      return 1;
    }
    if (c < 0x800) {
      return 2;
    }
    if (Character.isSurrogate(c)) {
      return 6;
    }
    return 3;
  }

  /**
   * The exact length of the JSON body {@link #json} writes for {@code r}, computed without
   * writing it.
   */
  public static long length(Response r) {
    return valueLength(r.fields());
  }

  private static long valueLength(Object v) {
    if (v instanceof String s) {
      return 2 + escapedLength(s);
    } else if (v instanceof Integer || v instanceof Long) {
      return v.toString().length();
    } else if (v instanceof Boolean b) {
      return b ? 4 : 5;
    } else if (v instanceof byte[] bytes) {
      return 2 + base64Length(bytes.length);
    } else if (v instanceof Map<?, ?> m) {
      long n = 2;
      int count = 0;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (e.getValue() != null) {
          n += (count++ > 0 ? 1 : 0) + 2 + escapedLength(e.getKey().toString()) + 1
              + valueLength(e.getValue());
        }
      }
      return n;
    } else if (v instanceof List<?> list) {
      long n = 2 + Math.max(0, list.size() - 1);
      for (Object o : list) {
        n += valueLength(o);
      }
      return n;
    } else if (v instanceof Number n) {
      return n.toString().length();
    } else if (v instanceof JsonValue j) {
      return j.jsonLength();
    }
    throw new IllegalArgumentException("cannot write " + v.getClass());
  }

  /** Bytes the base64 form of {@code n} bytes takes. */
  public static long base64Length(long n) {
    return (n + 2) / 3 * 4;
  }

  private static final class Out extends ByteArrayOutputStream {
    Out() {
      super(256);
    }

    byte[] buf() {
      return buf;
    }
  }
}
