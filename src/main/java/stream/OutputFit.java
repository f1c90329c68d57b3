package stream;

/** Cuts two outputs so that, encoded, they fit one response frame together. */
final class OutputFit {
  private OutputFit() {}

  /**
   * Shares {@code budget} encoded bytes between two outputs of encoded sizes {@code a} and
   * {@code b}: each gets what it needs if both fit, else the smaller keeps what it needs up to
   * half and the larger gets the rest.
   */
  static long[] split(long a, long b, long budget) {
    if (a + b <= budget) {
      return new long[] {a, b};
    }
    long half = budget / 2;
    if (a <= half) {
      return new long[] {a, budget - a};
    }
    if (b <= half) {
      return new long[] {budget - b, b};
    }
    return new long[] {half, budget - half};
  }

  /** The longest prefix of {@code s} whose escaped JSON form takes at most {@code budget} bytes. */
  static String prefixFor(String s, long budget) {
    long used = 0;
    int i = 0;
    while (i < s.length()) {
      char c = s.charAt(i);
      // A surrogate pair is kept or cut as a whole; a lone surrogate is a unit of its own.
      int units = Character.isHighSurrogate(c) && i + 1 < s.length()
          && Character.isLowSurrogate(s.charAt(i + 1)) ? 2 : 1;
      long cost = 0;
      for (int k = 0; k < units; k++) {
        cost += protocol.ResponseWriter.escapedLength(s.charAt(i + k));
      }
      if (used + cost > budget) {
        break;
      }
      used += cost;
      i += units;
    }
    return i == s.length() ? s : s.substring(0, i);
  }

  /**
   * The length of {@code b} without a multi-byte UTF-8 character cut short at its end (as output
   * cut at a cap may end); invalid bytes before that are left for the decoder to replace.
   */
  static int utf8Whole(byte[] b) {
    int n = b.length;
    // Walk back over at most three continuation bytes to the lead byte of the last character.
    int i = n - 1;
    while (i >= 0 && n - i <= 3 && (b[i] & 0xC0) == 0x80) {
      i--;
    }
    if (i < 0) {
      return n;
    }
    int lead = b[i] & 0xFF;
    int need = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 1;
    if (lead < 0xC2 || lead > 0xF4) {
      return n;
    }
    return n - i < need ? i : n;
  }

  /** The longest prefix of {@code b} whose base64 form takes at most {@code budget} bytes. */
  static byte[] bytesFor(byte[] b, long budget) {
    long n = Math.min(b.length, budget / 4 * 3);
    return n == b.length ? b : java.util.Arrays.copyOf(b, (int) n);
  }
}
