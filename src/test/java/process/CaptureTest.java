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
    assertEquals(8, budget.left(), "released once, however often called");
  }

  @Test
  void afterReleaseOutputIsDrainedAndDropped() {
    OutputBudget budget = new OutputBudget(10);
    Capture c = new Capture(100, budget);
    c.write(b("abc"), 0, 3);
    c.release();
    assertTrue(c.write(b("more"), 0, 4), "a background child may still write: keep reading");
    assertEquals(0, c.bytes().length);
    assertEquals(10, budget.left(), "nothing held");
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
    assertEquals(4, budget.left(), "the answer built from them still counts: 6 stay taken");
    c.release();
    c.release();
    assertEquals(0, c.held());
    assertEquals(10, budget.left(), "given back once, at release");
  }

  @Test
  void aFloodLeavesTheReserveForTheStartOfOtherStreams() {
    // 100 bytes, of which 20 only for the first 8 bytes of each stream.
    OutputBudget budget = new OutputBudget(100, 20, 8);
    Capture flood = new Capture(1000, budget);
    for (int i = 0; i < 50; i++) {
      flood.write(b("0123456789"), 0, 10);
    }
    assertEquals(88, flood.bytes().length, "the shared 80 and its own floor of 8");
    assertTrue(flood.truncated());
    Capture[] others = new Capture[3];
    for (int i = 0; i < others.length; i++) {
      others[i] = new Capture(1000, budget);
      others[i].write(b("abcdefghij"), 0, 10);
    }
    assertArrayEquals(b("abcdefgh"), others[0].bytes(), "its floor, from the reserve");
    assertTrue(others[0].truncated(), "past its floor only the shared part could serve");
    assertArrayEquals(b("abcd"), others[1].bytes(), "what the reserve had left");
    assertEquals(0, others[2].bytes().length, "the reserve is spent");
    flood.release();
    assertEquals(88, budget.left(), "its 8 went back to the reserve, its 80 to the shared part");
    Capture after = new Capture(1000, budget);
    after.write(b("0123456789"), 0, 10);
    assertArrayEquals(b("0123456789"), after.bytes(), "floor from the reserve, the rest shared");
    for (Capture c : others) {
      c.release();
    }
    after.release();
    assertEquals(100, budget.left(), "everything given back where it came from");
    Capture alone = new Capture(1000, budget);
    alone.write(new byte[200], 0, 200);
    assertEquals(88, alone.held(), "a stream alone gets the shared part and its floor");
  }
}
