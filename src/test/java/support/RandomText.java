package support;

import java.util.Random;

/** Random text for property tests. */
public final class RandomText {
  private RandomText() {}

  /** A string drawn from every class of character the writer treats differently. */
  public static String string(Random rnd, int units) {
    StringBuilder b = new StringBuilder();
    while (b.length() < units) {
      switch (rnd.nextInt(11)) {
        case 0 -> b.append((char) rnd.nextInt(0x20)); // controls
        case 1 -> b.append(rnd.nextBoolean() ? '"' : '\\');
        case 2 -> b.append((char) (0x20 + rnd.nextInt(0x60))); // printable ASCII and DEL
        case 3 -> b.append((char) (0x80 + rnd.nextInt(0x780))); // two UTF-8 bytes
        case 4 -> b.append((char) (0x800 + rnd.nextInt(0xD000))); // three, below surrogates
        case 5 -> b.append((char) (0xE000 + rnd.nextInt(0x2000))); // three, above surrogates
        case 6 -> b.appendCodePoint(0x10000 + rnd.nextInt(0x100000)); // a surrogate pair
        case 7 -> b.append((char) (0xD800 + rnd.nextInt(0x400))); // a lone high surrogate
        case 8 -> b.append((char) (0xDC00 + rnd.nextInt(0x400))); // a lone low surrogate
        case 9 -> b.append('\uFFFD'); // what invalid UTF-8 becomes
        default -> b.append(rnd.nextBoolean() ? '\u2028' : '\u007F');
      }
    }
    return b.toString();
  }
}
