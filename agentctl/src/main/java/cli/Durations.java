package cli;

import java.time.Duration;
import picocli.CommandLine;

/** Reads durations such as {@code 500ms}, {@code 5s}, {@code 1.5m}, {@code 2h}; a bare number is seconds. */
final class Durations implements CommandLine.ITypeConverter<Duration> {
  @Override
  public Duration convert(String text) {
    return parse(text);
  }

  static Duration parse(String text) {
    String t = text.trim().toLowerCase(java.util.Locale.ROOT);
    double scale;
    String number;
    if (t.endsWith("ms")) {
      scale = 1;
      number = t.substring(0, t.length() - 2);
    } else if (t.endsWith("s")) {
      scale = 1000;
      number = t.substring(0, t.length() - 1);
    } else if (t.endsWith("m")) {
      scale = 60_000;
      number = t.substring(0, t.length() - 1);
    } else if (t.endsWith("h")) {
      scale = 3_600_000;
      number = t.substring(0, t.length() - 1);
    } else {
      scale = 1000;
      number = t;
    }
    double value;
    try {
      value = Double.parseDouble(number);
    } catch (NumberFormatException e) {
      throw new CommandLine.TypeConversionException(
          "'" + text + "' is not a duration (try 500ms, 5s, 2m or 1h)");
    }
    long ms = Math.round(value * scale);
    if (!(value > 0) || ms < 1) {
      throw new CommandLine.TypeConversionException("'" + text + "' must be at least 1ms");
    }
    return Duration.ofMillis(ms);
  }

  static String format(Duration d) {
    long ms = d.toMillis();
    return ms % 1000 == 0 ? ms / 1000 + "s" : ms + "ms";
  }
}
