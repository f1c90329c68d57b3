package stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import protocol.Response;
import protocol.ResponseWriter;

/** Output cut to a budget fits it once really written, and is cut no shorter than needed. */
class OutputFitTest {
  private static final long SEED = Long.getLong("fuzz.seed", 0x5EEDL);

  @Test
  void aPrefixFitsItsBudgetAsWrittenAndTakesAllThatFits() {
    Random rnd = new Random(SEED);
    for (int i = 0; i < 20_000; i++) {
      String s = randomString(rnd, rnd.nextInt(60));
      long budget = rnd.nextInt(200);
      String p = OutputFit.prefixFor(s, budget);
      String ctx = "seed " + SEED + " case " + i + " budget " + budget;
      assertTrue(s.startsWith(p), ctx);
      long written = ResponseWriter.json(Response.of(p)).length - 9;
      assertTrue(written <= budget, ctx + ": " + written + " bytes written");
      if (!p.isEmpty()) {
        // Never half of a surrogate pair.
        assertFalse(Character.isHighSurrogate(p.charAt(p.length() - 1))
            && p.length() < s.length() && Character.isLowSurrogate(s.charAt(p.length())), ctx);
      }
      if (p.length() < s.length()) {
        int at = p.length();
        int next = Character.isHighSurrogate(s.charAt(at)) && at + 1 < s.length()
            && Character.isLowSurrogate(s.charAt(at + 1)) ? 2 : 1;
        String more = s.substring(0, p.length() + next);
        assertTrue(ResponseWriter.json(Response.of(more)).length - 9 > budget,
            ctx + ": cut shorter than needed");
      }
    }
  }

  @Test
  void twoOutputsShareTheBudgetWithoutExceedingIt() {
    Random rnd = new Random(SEED + 1);
    for (int i = 0; i < 20_000; i++) {
      long a = rnd.nextInt(1000);
      long b = rnd.nextInt(1000);
      long budget = rnd.nextInt(1500);
      long[] fit = OutputFit.split(a, b, budget);
      assertTrue(fit[0] + fit[1] <= Math.max(budget, a + b), a + " " + b + " " + budget);
      if (a + b <= budget) {
        assertEquals(a, fit[0]);
        assertEquals(b, fit[1]);
      } else {
        assertEquals(budget, fit[0] + fit[1]);
      }
    }
  }

  private static String randomString(Random rnd, int units) {
    StringBuilder b = new StringBuilder();
    while (b.length() < units) {
      switch (rnd.nextInt(7)) {
        case 0 -> b.append((char) rnd.nextInt(0x20));
        case 1 -> b.append(rnd.nextBoolean() ? '"' : '\\');
        case 2 -> b.append((char) (0x20 + rnd.nextInt(0x60)));
        case 3 -> b.append((char) (0x80 + rnd.nextInt(0x780)));
        case 4 -> b.append('\uFFFD');
        case 5 -> b.append((char) (0xD800 + rnd.nextInt(0x800)));
        default -> b.appendCodePoint(0x10000 + rnd.nextInt(0x100000));
      }
    }
    return b.toString();
  }
}
