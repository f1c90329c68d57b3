package cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import org.junit.jupiter.api.Test;

/** The detach sequence: its docker-style spelling and how typed bytes are watched for it. */
class DetachKeysTest {
  @Test
  void parsesDockerStyleKeys() {
    assertArrayEquals(new byte[] {16, 17}, DetachKeys.parse(DetachKeys.DEFAULT).keys());
    assertArrayEquals(new byte[] {0, 27, 28, 29, 30, 31, 'q'},
        DetachKeys.parse("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_,q").keys());
    assertArrayEquals(new byte[] {24}, DetachKeys.parse("CTRL-X").keys());
    assertFalse(DetachKeys.parse("").enabled());
    for (String bad : new String[] {"ctrl-9", "ctrl-", "ab", "ctrl-p,,ctrl-q", "é"}) {
      assertThrows(IllegalArgumentException.class, () -> DetachKeys.parse(bad), bad);
    }
  }

  @Test
  void holdsAPrefixBackAndSendsItOnWhenTheSequenceBreaks() {
    DetachKeys keys = DetachKeys.parse(DetachKeys.DEFAULT);
    // At every split of the input into reads, the same bytes go on and the same detach happens.
    byte[] typed = {'a', 16, 'b', 16, 16, 'c', 16, 17, 'z'};
    for (int split = 0; split <= typed.length; split++) {
      DetachKeys.Matcher m = keys.new Matcher();
      ByteArrayOutputStream sent = new ByteArrayOutputStream();
      sent.writeBytes(m.filter(java.util.Arrays.copyOf(typed, split), split));
      if (!m.detached()) {
        byte[] rest = java.util.Arrays.copyOfRange(typed, split, typed.length);
        sent.writeBytes(m.filter(rest, rest.length));
      }
      assertTrue(m.detached(), "split " + split);
      assertArrayEquals(new byte[] {'a', 16, 'b', 16, 16, 'c'}, sent.toByteArray(),
          "split " + split);
    }
  }

  @Test
  void disabledPassesEverything() {
    DetachKeys.Matcher m = DetachKeys.parse("").new Matcher();
    byte[] typed = {16, 17, 0, 'x'};
    assertArrayEquals(typed, m.filter(typed, typed.length));
    assertFalse(m.detached());
    DetachKeys.Matcher one = DetachKeys.parse("ctrl-x").new Matcher();
    assertArrayEquals(new byte[] {'a'}, one.filter(new byte[] {'a', 24, 'b'}, 3));
    assertTrue(one.detached());
    assertEquals(1, DetachKeys.parse("ctrl-x").keys().length);
  }
}
