package process;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CaptureTest {
  private static byte[] b(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  @Test
  void keepsTheFirstCapBytesAndSaysTheRestWasCut() {
    Capture c = new Capture(5, new OutputBudget(1 << 20));
    assertEquals(Long.MAX_VALUE, c.room(null), "never full: the rest is read and dropped");
    assertTrue(c.write(b("abc"), 0, 3));
    assertFalse(c.truncated());
    assertTrue(c.write(b("xdefg"), 1, 4));
    assertArrayEquals(b("abcde"), c.bytes());
    assertTrue(c.truncated());
  }

  @Test
  void runsShareTheBudgetAndReleaseGivesItBack() {
    OutputBudget budget = new OutputBudget(10);
    Capture first = new Capture(100, budget);
    Capture second = new Capture(100, budget);
    first.write(b("12345678"), 0, 8);
    second.write(b("abcd"), 0, 4);
    assertArrayEquals(b("ab"), second.bytes(), "only what is left of the budget");
    assertTrue(second.truncated());
    assertFalse(first.truncated());
    first.release();
    first.release();
    assertEquals(8, budget.take(100), "released once, however often called");
  }

  @Test
  void afterReleaseOutputIsDrainedAndDropped() {
    OutputBudget budget = new OutputBudget(10);
    Capture c = new Capture(100, budget);
    c.write(b("abc"), 0, 3);
    c.release();
    assertTrue(c.write(b("more"), 0, 4), "a background child may still write: keep reading");
    assertEquals(0, c.bytes().length);
    assertEquals(10, budget.take(100), "nothing held");
  }

  @Test
  void dropLetsGoOfTheBytesButKeepsThemCountedUntilRelease() {
    OutputBudget budget = new OutputBudget(10);
    Capture c = new Capture(100, budget);
    c.write(b("abcdef"), 0, 6);
    c.drop();
    assertEquals(0, c.bytes().length, "the bytes are let go");
    assertEquals(6, c.held());
    assertTrue(c.write(b("more"), 0, 4), "later output is drained");
    assertEquals(4, budget.take(100), "the answer built from them still counts: 6 stay taken");
    budget.give(4);
    c.release();
    c.release();
    assertEquals(0, c.held());
    assertEquals(10, budget.take(100), "given back once, at release");
  }
}
