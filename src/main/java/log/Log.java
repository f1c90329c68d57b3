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
    StringBuilder b = new StringBuilder(128);
    if (json) {
      b.append("{\"time\":\"").append(Instant.now()).append("\",\"level\":\"")
          .append(level.name().toLowerCase(java.util.Locale.ROOT)).append("\",\"event\":");
      quote(b, event);
      for (int i = 0; i + 1 < kv.length; i += 2) {
        b.append(',');
        quote(b, String.valueOf(kv[i]));
        b.append(':');
        Object v = kv[i + 1];
        if (v instanceof Number || v instanceof Boolean) {
          b.append(v);
        } else {
          quote(b, String.valueOf(v));
        }
      }
      b.append('}');
    } else {
      b.append(Instant.now()).append(' ').append(level.name()).append(' ').append(event);
      for (int i = 0; i + 1 < kv.length; i += 2) {
        b.append(' ').append(kv[i]).append('=');
        String v = String.valueOf(kv[i + 1]);
        if (v.isEmpty() || v.indexOf(' ') >= 0 || v.indexOf('"') >= 0) {
          quote(b, v);
        } else {
          b.append(v);
        }
      }
    }
    OUT.println(b);
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
          if (c < 0x20) {
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
