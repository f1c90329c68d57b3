package log;

import java.io.PrintStream;
import java.time.Instant;

/**
 * The agent's log: one line per event on stderr, either {@code time level event key=value...} or
 * one JSON object per line. Request bodies and file contents are never passed here.
 */
public final class Log {
  public enum Level {
    ERROR,
    WARN,
    INFO,
    DEBUG
  }

  private static volatile boolean json;
  private static volatile Level threshold = Level.INFO;
  private static final PrintStream OUT = System.err;

  private Log() {}

  public static void configure(String format, String level) {
    json = "json".equals(format);
    threshold = Level.valueOf(level.toUpperCase(java.util.Locale.ROOT));
    captureJavaLogging();
  }

  /**
   * Libraries that log through java.util.logging (Vert.x does) go through this log too, so that
   * every line on stderr has the same format, as {@code library} events.
   */
  private static void captureJavaLogging() {
    java.util.logging.LogManager.getLogManager().reset();
    java.util.logging.Logger root = java.util.logging.Logger.getLogger("");
    // Their warnings and errors only: their debug output is about their own insides.
    root.setLevel(java.util.logging.Level.WARNING);
    root.addHandler(new java.util.logging.Handler() {
      @Override
      public void publish(java.util.logging.LogRecord r) {
        int v = r.getLevel().intValue();
        Level level = v >= java.util.logging.Level.SEVERE.intValue() ? Level.ERROR
            : v >= java.util.logging.Level.WARNING.intValue() ? Level.WARN
            : v >= java.util.logging.Level.INFO.intValue() ? Level.INFO : Level.DEBUG;
        String message = r.getMessage();
        if (r.getParameters() != null && message != null) {
          message = java.text.MessageFormat.format(message, r.getParameters());
        }
        Throwable t = r.getThrown();
        log(level, "library", "logger", r.getLoggerName(), "message",
            t == null ? message : message + ": " + t);
      }

      @Override
      public void flush() {}

      @Override
      public void close() {}
    });
  }

  public static boolean enabled(Level level) {
    return level.ordinal() <= threshold.ordinal();
  }

  public static void info(String event, Object... kv) {
    log(Level.INFO, event, kv);
  }

  public static void warn(String event, Object... kv) {
    log(Level.WARN, event, kv);
  }

  public static void error(String event, Object... kv) {
    log(Level.ERROR, event, kv);
  }

  public static void debug(String event, Object... kv) {
    log(Level.DEBUG, event, kv);
  }

  /** Logs {@code event} with alternating keys and values. */
  public static void log(Level level, String event, Object... kv) {
    if (!enabled(level)) {
      return;
    }
    OUT.println(format(json, Instant.now(), level, event, kv));
  }

  /**
   * One log line, without its line break. Whatever the values hold (a request id is the host's to
   * choose, and is read before the token is checked), the line holds no line break and no control
   * character: in JSON every key and value is a JSON string with those escaped, in text every value
   * that holds anything but plain printable characters is quoted and escaped the same way.
   */
  public static String format(boolean json, Instant time, Level level, String event,
      Object... kv) {
    StringBuilder b = new StringBuilder(128);
    if (json) {
      b.append("{\"time\":\"").append(time).append("\",\"level\":\"")
          .append(level.name().toLowerCase(java.util.Locale.ROOT)).append("\",\"event\":");
      quote(b, String.valueOf(event));
      for (int i = 0; i + 1 < kv.length; i += 2) {
        b.append(',');
        quote(b, String.valueOf(kv[i]));
        b.append(':');
        Object v = kv[i + 1];
        if (v instanceof Number || v instanceof Boolean) {
          b.append(v);
        } else {
          quote(b, clip(String.valueOf(v)));
        }
      }
      b.append('}');
    } else {
      b.append(time).append(' ').append(level.name()).append(' ');
      bare(b, String.valueOf(event));
      for (int i = 0; i + 1 < kv.length; i += 2) {
        b.append(' ');
        bare(b, String.valueOf(kv[i]));
        b.append('=');
        String v = clip(String.valueOf(kv[i + 1]));
        if (plain(v)) {
          b.append(v);
        } else {
          quote(b, v);
        }
      }
    }
    return b.toString();
  }

  /** The characters of a value a line keeps; a host's id may be up to 1 MiB. */
  static final int MAX_VALUE = 1024;

  /**
   * {@code v} cut to {@link #MAX_VALUE} characters (never between the two halves of a pair), with
   * how many more there were.
   */
  private static String clip(String v) {
    if (v.length() <= MAX_VALUE) {
      return v;
    }
    int keep = Character.isHighSurrogate(v.charAt(MAX_VALUE - 1)) ? MAX_VALUE - 1 : MAX_VALUE;
    return v.substring(0, keep) + "...(" + (v.length() - keep) + " more characters)";
  }

  /** True if {@code v} can stand unquoted in a text line: not empty, nothing to escape. */
  private static boolean plain(String v) {
    if (v.isEmpty()) {
      return false;
    }
    for (int i = 0; i < v.length(); i++) {
      char c = v.charAt(i);
      if (c == ' ' || c == '"' || c == '=' || c == '\\' || mustEscape(c)) {
        return false;
      }
    }
    return true;
  }

  /** An event name or key in a text line: written as is when plain, else quoted. */
  private static void bare(StringBuilder b, String s) {
    if (plain(s)) {
      b.append(s);
    } else {
      quote(b, s);
    }
  }

  /**
   * Characters never written as they are: the C0 and C1 controls and DEL, the Unicode line and
   * paragraph separators, and lone surrogates (which have no UTF-8 form).
   */
  private static boolean mustEscape(char c) {
    return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029
        || Character.isSurrogate(c);
  }

  private static void quote(StringBuilder b, String s) {
    b.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (Character.isHighSurrogate(c) && i + 1 < s.length()
              && Character.isLowSurrogate(s.charAt(i + 1))) {
            // A valid pair is one character, written as it is.
            b.append(c).append(s.charAt(++i));
          } else if (mustEscape(c)) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    b.append('"');
  }
}
