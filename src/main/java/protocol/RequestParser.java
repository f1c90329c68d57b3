package protocol;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a frame body into a {@link Request}, with a plain streaming parser (no reflection).
 *
 * <p>Unknown fields are skipped and {@code null} counts as absent. Every known field must have its
 * shape, whatever the request's type, and the first bad field decides the error
 * ({@link InvalidRequestException}), but parsing goes on so that the id can still be reported if
 * it comes later. Then the record of the request's type is made from the fields it reads, and
 * checks itself: a request it refuses becomes a {@link Request.Refused} that carries the error.
 */
public final class RequestParser {
  private static final JsonFactory JSON = new JsonFactory();

  /**
   * The most items a list or object field may hold (a command's arguments, an environment). Linux
   * takes at most about 6 MiB of arguments and environment, 8 bytes of which per item are the
   * pointer, so no command with more can start; and each item costs the agent an object of tens
   * of bytes, so without a bound a 10 MiB frame of short items would cost hundreds of MiB.
   */
  static final int MAX_ITEMS = 262_144;

  private RequestParser() {}

  public static Request parse(byte[] body) throws InvalidRequestException {
    String encoding = notUtf8(body);
    if (encoding != null) {
      throw new InvalidRequestException("", Errors.invalid(encoding));
    }
    try (JsonParser p = JSON.createParser(body)) {
      return new Fields(p).read();
    } catch (JsonProcessingException e) {
      throw new InvalidRequestException("", Errors.invalid(jsonReason(e)));
    } catch (IOException e) {
      throw new InvalidRequestException("", Errors.invalid(e.getMessage()));
    }
  }

  /**
   * The id of a request that will not be served, so that its refusal can name it: only the
   * top-level {@code id} is read, every other value is skipped without being built. "" if the
   * body has no string id where it is looked for.
   */
  public static String idOf(byte[] body) {
    try (JsonParser p = JSON.createParser(body)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return "";
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        boolean isId = "id".equals(p.currentName());
        JsonToken t = p.nextToken();
        if (isId) {
          String id = t == JsonToken.VALUE_STRING ? p.getText() : "";
          return loneSurrogate(id) ? "" : id;
        }
        p.skipChildren();
      }
    } catch (IOException e) {
      // Malformed from here on: what was found is all there is.
    }
    return "";
  }

  /**
   * Why {@code body} is not UTF-8 text, or null if it is. The JSON parser would guess UTF-16 or
   * UTF-32 from NUL bytes, and decodes overlong forms and encoded surrogates without a word; a
   * body is UTF-8 (and a NUL byte is never valid JSON outside a string, nor inside one unescaped).
   * One pass over the bytes, allocating nothing: bodies reach 10 MiB.
   */
  static String notUtf8(byte[] body) {
    int n = body.length;
    int i = 0;
    while (i < n) {
      int c = body[i] & 0xff;
      if (c == 0) {
        return "the body holds a NUL byte (it must be UTF-8 JSON)";
      }
      if (c < 0x80) {
        i++;
        continue;
      }
      // Lead byte: how many continuation bytes follow, and the range of the first (which rules
      // out overlong forms, UTF-16 surrogates and code points past U+10FFFF).
      int more = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2
          : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
      int lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
      int hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
      boolean ok = more > 0 && i + more < n;
      for (int k = 1; k <= more && ok; k++) {
        int x = body[i + k] & 0xff;
        ok = k == 1 ? x >= lo && x <= hi : x >= 0x80 && x <= 0xbf;
      }
      if (!ok) {
        return "the body is not valid UTF-8";
      }
      i += more + 1;
    }
    return null;
  }

  /**
   * Whether {@code s} holds half of a surrogate pair alone ({@code "\\ud800"} in the JSON): no
   * UTF-8 text can carry it, so it could reach neither the operating system nor an answer as
   * given.
   */
  static boolean loneSurrogate(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!Character.isSurrogate(c)) {
        continue;
      }
      if (Character.isHighSurrogate(c) && i + 1 < s.length()
          && Character.isLowSurrogate(s.charAt(i + 1))) {
        i++;
      } else {
        return true;
      }
    }
    return false;
  }

  private static String jsonReason(JsonProcessingException e) {
    String msg = e.getOriginalMessage();
    if (msg == null) {
      return "malformed JSON";
    }
    int cut = msg.indexOf('\n');
    msg = cut < 0 ? msg : msg.substring(0, cut);
    if (msg.length() > 200) {
      msg = msg.substring(0, 200) + "...";
    }
    var loc = e.getLocation();
    return loc == null ? msg : msg + " at offset " + loc.getByteOffset();
  }

  /** The state of one parse. */
  private static final class Fields {
    private final JsonParser p;
    private String problem;
    private boolean idSeen;
    private String id;
    private RequestType type;
    private List<String> command;
    private String cwd;
    private Map<String, String> env;
    private String path;
    private String contentBase64;
    private Boolean recursive;
    private String sessionId;
    private Integer rows;
    private Integer cols;
    private String inputBase64;
    private Long timeoutMs;
    private String stdinBase64;
    private Long maxOutputBytes;
    private Request.OutputEncoding outputEncoding;
    private Boolean stream;
    private Long offset;
    private Long length;
    private Boolean append;
    private Integer mode;
    private String newPath;
    private String authToken;
    private Boolean killLeftovers;

    Fields(JsonParser p) {
      this.p = p;
    }

    Request read() throws IOException, InvalidRequestException {
      JsonToken first = p.nextToken();
      if (first != JsonToken.START_OBJECT) {
        throw new InvalidRequestException("", Errors.invalid("expected a JSON object"));
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        p.nextToken();
        field(name);
      }
      if (p.nextToken() != null) {
        throw new InvalidRequestException("", Errors.invalid("unexpected data after the object"));
      }
      if (!idSeen && problem == null) {
        problem = "missing field 'id'";
      }
      if (type == null && problem == null) {
        problem = "missing field 'type'";
      }
      if (problem != null) {
        throw new InvalidRequestException(id, Errors.invalid(problem));
      }
      try {
        return build();
      } catch (AgentException e) {
        return new Request.Refused(id, type, e.getMessage(), authToken);
      }
    }

    /** The record of the request's type, from the fields it reads; the others are dropped. */
    private Request build() {
      return switch (type) {
        case RUN -> Request.Run.of(id, command, cwd, env, timeoutMs, stdinBase64, maxOutputBytes,
            outputEncoding, isTrue(stream), isTrue(killLeftovers), authToken);
        case SHELL -> new Request.Shell(id, command, cwd, env, rows == null ? 24 : rows,
            cols == null ? 80 : cols, authToken);
        case SHELL_INPUT -> Request.ShellInput.of(id, sessionId, inputBase64, authToken);
        case SHELL_RESIZE -> new Request.ShellResize(id, sessionId, rows == null ? 24 : rows,
            cols == null ? 80 : cols, authToken);
        case SHELL_CLOSE -> new Request.ShellClose(id, sessionId, authToken);
        case SHELL_ATTACH -> new Request.ShellAttach(id, sessionId, authToken);
        case LIST_SESSIONS -> new Request.ListSessions(id, authToken);
        case PING -> new Request.Ping(id, authToken);
        case SHUTDOWN -> new Request.Shutdown(id, authToken);
        case INFO -> new Request.Info(id, authToken);
        case WRITE_FILE -> new Request.WriteFile(id, path, contentBase64, isTrue(append), mode,
            authToken);
        case READ_FILE -> new Request.ReadFile(id, path, offset, length, authToken);
        case REMOVE_FILE -> new Request.RemoveFile(id, path, isTrue(recursive), authToken);
        case MKDIR -> new Request.Mkdir(id, path, isTrue(recursive), authToken);
        case STAT -> new Request.Stat(id, path, authToken);
        case LIST_DIR -> new Request.ListDir(id, path, authToken);
        case RENAME -> new Request.Rename(id, path, newPath, authToken);
      };
    }

    private static boolean isTrue(Boolean b) {
      return b != null && b;
    }

    private void field(String name) throws IOException {
      if (p.currentToken() == JsonToken.VALUE_NULL) {
        if (name.equals("id") || name.equals("type")) {
          fail("field '" + name + "' must be a string");
        }
        return;
      }
      switch (name) {
        case "id" -> {
          idSeen = true;
          String v = string(name);
          // An id that cannot be written back is not echoed.
          id = v != null && loneSurrogate(v) ? "" : v;
        }
        case "type" -> {
          String v = string(name);
          if (v != null) {
            type = RequestType.fromWire(v);
            if (type == null) {
              fail("unknown type '" + clip(v) + "'");
            }
          }
        }
        case "command" -> command = noNul(name, stringList(name));
        case "cwd" -> cwd = noNul(name, string(name));
        case "env" -> env = environment(name, stringMap(name));
        case "path" -> path = string(name);
        case "content_base64" -> contentBase64 = string(name);
        case "recursive" -> recursive = bool(name);
        case "session_id" -> sessionId = string(name);
        case "rows" -> rows = intIn(name, 0, 65535);
        case "cols" -> cols = intIn(name, 0, 65535);
        case "input_base64" -> inputBase64 = string(name);
        case "timeout_ms" -> timeoutMs = longIn(name, 1, Long.MAX_VALUE / 1_000_000);
        case "stdin_base64" -> stdinBase64 = string(name);
        case "max_output_bytes" -> maxOutputBytes = longIn(name, 0, Long.MAX_VALUE);
        case "output_encoding" -> {
          String v = string(name);
          if ("utf8".equals(v)) {
            outputEncoding = Request.OutputEncoding.UTF8;
          } else if ("base64".equals(v)) {
            outputEncoding = Request.OutputEncoding.BASE64;
          } else if (v != null) {
            fail("field 'output_encoding' must be \"utf8\" or \"base64\"");
          }
        }
        case "stream" -> stream = bool(name);
        case "offset" -> offset = longIn(name, 0, Long.MAX_VALUE);
        case "length" -> length = longIn(name, 0, Long.MAX_VALUE);
        case "append" -> append = bool(name);
        case "mode" -> {
          Long v = longIn(name, 0, 07777);
          mode = v == null ? null : v.intValue();
        }
        case "new_path" -> newPath = string(name);
        case "auth_token" -> authToken = string(name);
        case "kill_leftovers" -> killLeftovers = bool(name);
        default -> p.skipChildren();
      }
    }

    private void fail(String why) {
      if (problem == null) {
        problem = why;
      }
    }

    private String string(String name) throws IOException {
      if (p.currentToken() != JsonToken.VALUE_STRING) {
        fail("field '" + name + "' must be a string");
        p.skipChildren();
        return null;
      }
      return unicode(name, p.getText());
    }

    /** Refuses a lone surrogate (see {@link RequestParser#loneSurrogate}) in a known field. */
    private String unicode(String name, String v) {
      if (loneSurrogate(v)) {
        fail("field '" + name + "' is not valid Unicode (it holds a lone surrogate)");
      }
      return v;
    }

    private Boolean bool(String name) throws IOException {
      JsonToken t = p.currentToken();
      if (t == JsonToken.VALUE_TRUE || t == JsonToken.VALUE_FALSE) {
        return t == JsonToken.VALUE_TRUE;
      }
      fail("field '" + name + "' must be a boolean");
      p.skipChildren();
      return null;
    }

    private Long longIn(String name, long min, long max) throws IOException {
      if (p.currentToken() == JsonToken.VALUE_NUMBER_INT) {
        if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
          fail("field '" + name + "' is out of range");
          return null;
        }
        long v = p.getLongValue();
        if (v >= min && v <= max) {
          return v;
        }
        fail("field '" + name + "' must be between " + min + " and " + max);
        return null;
      }
      fail("field '" + name + "' must be an integer");
      p.skipChildren();
      return null;
    }

    private Integer intIn(String name, int min, int max) throws IOException {
      Long v = longIn(name, min, max);
      return v == null ? null : v.intValue();
    }

    private List<String> stringList(String name) throws IOException {
      if (p.currentToken() != JsonToken.START_ARRAY) {
        fail("field '" + name + "' must be an array of strings");
        p.skipChildren();
        return null;
      }
      List<String> out = new ArrayList<>();
      JsonToken t;
      while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
        if (t != JsonToken.VALUE_STRING) {
          fail("field '" + name + "' must be an array of strings");
          p.skipChildren();
          continue;
        }
        if (out.size() == MAX_ITEMS) {
          fail("field '" + name + "' has more than " + MAX_ITEMS + " items");
          p.skipChildren();
          continue;
        }
        out.add(unicode(name, p.getText()));
      }
      return Collections.unmodifiableList(out);
    }

    private Map<String, String> stringMap(String name) throws IOException {
      if (p.currentToken() != JsonToken.START_OBJECT) {
        fail("field '" + name + "' must be an object of strings");
        p.skipChildren();
        return null;
      }
      Map<String, String> out = new LinkedHashMap<>();
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String key = p.currentName();
        if (p.nextToken() != JsonToken.VALUE_STRING) {
          fail("field '" + name + "' must be an object of strings");
          p.skipChildren();
          continue;
        }
        if (out.size() == MAX_ITEMS) {
          fail("field '" + name + "' has more than " + MAX_ITEMS + " items");
          continue;
        }
        out.put(unicode(name, key), unicode(name, p.getText()));
      }
      return Collections.unmodifiableMap(out);
    }

    /**
     * Arguments and a directory reach the operating system as C strings, which end at the first
     * NUL: a value holding one would be cut without a word, so it is refused.
     */
    private String noNul(String name, String v) {
      if (v != null && v.indexOf('\0') >= 0) {
        fail("field '" + name + "' must not contain a NUL character");
      }
      return v;
    }

    private List<String> noNul(String name, List<String> v) {
      if (v != null) {
        for (String s : v) {
          noNul(name, s);
        }
      }
      return v;
    }

    /**
     * An environment entry is {@code NAME=value} as one C string: a name that is empty or holds
     * {@code =} would set another variable than the one named, and a NUL would cut the entry.
     */
    private Map<String, String> environment(String name, Map<String, String> v) {
      if (v != null) {
        for (Map.Entry<String, String> e : v.entrySet()) {
          String key = e.getKey();
          if (key.isEmpty()) {
            fail("field '" + name + "' has an empty variable name");
          } else if (key.indexOf('=') >= 0) {
            fail("field '" + name + "' has a variable name containing '=': '" + clip(key) + "'");
          } else if (key.indexOf('\0') >= 0) {
            fail("field '" + name + "' has a variable name containing a NUL character");
          } else if (e.getValue().indexOf('\0') >= 0) {
            fail("field '" + name + "' has a value containing a NUL character (variable '"
                + clip(key) + "')");
          }
        }
      }
      return v;
    }

    private static String clip(String s) {
      return s.length() > 64 ? s.substring(0, 64) + "..." : s;
    }
  }
}
