package cli;

import java.io.ByteArrayOutputStream;
import java.util.Locale;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * The key sequence that leaves a shell without ending it, written as {@code docker attach}
 * writes it: keys separated by commas, each a single character or {@code ctrl-X} for X in a-z,
 * {@code @ [ \ ] ^ _}. An empty sequence turns detaching off.
 *
 * <p>A {@link Matcher} watches the typed bytes: keys that could begin the sequence are held back
 * until the next key shows whether the sequence is being typed, and are then sent on after all
 * (so Ctrl-P followed by anything but Ctrl-Q still reaches the remote program).
 */
record DetachKeys(byte[] keys, String spec) {
  static final String DEFAULT = "ctrl-p,ctrl-q";

  static DetachKeys parse(String spec) {
    ByteArrayOutputStream keys = new ByteArrayOutputStream();
    if (!spec.isEmpty()) {
      for (String k : spec.split(",", -1)) {
        String lower = k.toLowerCase(Locale.ROOT);
        if (lower.startsWith("ctrl-") && k.length() == 6) {
          char c = lower.charAt(5);
          if (c >= 'a' && c <= 'z') {
            keys.write(c - 'a' + 1);
          } else if ("@[\\]^_".indexOf(c) >= 0) {
            keys.write(c == '@' ? 0 : 27 + "[\\]^_".indexOf(c));
          } else {
            throw new IllegalArgumentException("'" + k + "': ctrl- takes a-z, @, [, \\, ], ^ or _");
          }
        } else if (k.length() == 1 && k.charAt(0) >= 0x20 && k.charAt(0) < 0x7f) {
          keys.write(k.charAt(0));
        } else {
          throw new IllegalArgumentException("'" + k + "' is not a key (use a character or"
              + " ctrl-X, comma-separated, as in " + DEFAULT + ")");
        }
      }
    }
    return new DetachKeys(keys.toByteArray(), spec);
  }

  boolean enabled() {
    return keys.length > 0;
  }

  /** For picocli: {@code --detach-keys SPEC}. */
  static final class Converter implements ITypeConverter<DetachKeys> {
    @Override
    public DetachKeys convert(String value) {
      try {
        return parse(value);
      } catch (IllegalArgumentException e) {
        throw new TypeConversionException(e.getMessage());
      }
    }
  }

  /** Watches typed bytes for the sequence; not thread-safe (one input thread uses it). */
  final class Matcher {
    private int matched;
    private boolean detached;

    /**
     * Returns what to send on of {@code data[0..n)}; after the sequence completes, {@link
     * #detached()} is true and the bytes after it are dropped.
     */
    byte[] filter(byte[] data, int n) {
      if (!enabled()) {
        return java.util.Arrays.copyOf(data, n);
      }
      ByteArrayOutputStream out = new ByteArrayOutputStream(n + keys.length);
      for (int i = 0; i < n && !detached; i++) {
        byte b = data[i];
        if (b == keys[matched]) {
          matched++;
          if (matched == keys.length) {
            detached = true;
          }
          continue;
        }
        if (matched > 0) {
          // Not the sequence after all: what was held back goes on, then this key is judged anew.
          out.write(keys, 0, matched);
          matched = 0;
          if (b == keys[0]) {
            matched = keys.length == 1 ? 0 : 1;
            detached = keys.length == 1;
            continue;
          }
        }
        out.write(b);
      }
      return out.toByteArray();
    }

    boolean detached() {
      return detached;
    }
  }
}
