package process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProcStatTest {
  /** A line as the kernel writes it, with a command name that holds ") (" and spaces. */
  private static final String LINE = "4242 (a) (b c) S 17 4242 4242 0 -1 4194560 120 7 0 0"
      + " 5 3 0 0 20 0 1 0 98765 2461696 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17"
      + " 1 0 0 0 0 0\n";

  @Test
  void fieldsAreCountedFromTheLastParenthesis() {
    ProcStat s = ProcStat.parse(LINE);
    assertEquals(4242, s.pid());
    assertEquals("a) (b c", s.comm());
    assertEquals('S', s.state());
    assertEquals(17, s.ppid());
    assertEquals(4242, s.pgrp());
    assertEquals(4242, s.session());
    assertEquals(7, s.cminflt());
    assertEquals(5, s.utime());
    assertEquals(3, s.stime());
    assertEquals(98765, s.startTime());
    // This line stops before env_start, as an older kernel's does.
    assertEquals(-1, s.envStart());
  }

  @Test
  void whereTheEnvironmentStartsIsReadFromAFullLine() {
    StringBuilder full = new StringBuilder("7 (sh) S");
    for (int field = 4; field <= 52; field++) {
      full.append(' ').append(field == 50 ? "140737488350000" : field == 25
          ? "18446744073709551615" : Integer.toString(field));
    }
    ProcStat s = ProcStat.parse(full + "\n");
    assertEquals(140737488350000L, s.envStart());
    assertEquals(4, s.ppid());
    assertEquals(22, s.startTime());
    // A live process past its exec has one.
    assertTrue(ProcStat.read(ProcessHandle.current().pid()).envStart() > 0);
  }

  @Test
  void aZombieIsTold() {
    assertTrue(ProcStat.parse(LINE.replace(" S 17 ", " Z 17 ")).zombie());
  }

  @Test
  void whatIsNotAStatLineIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> ProcStat.parse(""));
    assertThrows(IllegalArgumentException.class, () -> ProcStat.parse("12 (sh"));
    assertThrows(IllegalArgumentException.class, () -> ProcStat.parse("12 (sh) S 1 2"));
    assertThrows(NumberFormatException.class, () -> ProcStat.parse("x (sh) S 1 2 3"));
  }

  @Test
  void theTestsOwnProcessIsReadAsTheJdkSeesIt() {
    ProcessHandle self = ProcessHandle.current();
    ProcStat s = ProcStat.read(self.pid());
    assertNotNull(s);
    assertEquals(self.pid(), s.pid());
    assertEquals(self.parent().map(ProcessHandle::pid).orElse(0L), s.ppid());
    assertTrue("RS".indexOf(s.state()) >= 0, "a live process: " + s);
  }

  @Test
  void aGoneProcessReadsAsNull() {
    assertNull(ProcStat.read(Long.MAX_VALUE));
  }

  @Test
  void aScanFindsThisProcessAndItsChild() throws Exception {
    Process child = new ProcessBuilder("sleep", "30").start();
    try {
      List<ProcStat> all = new ArrayList<>();
      ProcStat.scan(all::add);
      long self = ProcessHandle.current().pid();
      assertTrue(all.stream().anyMatch(p -> p.pid() == self), "this process");
      assertTrue(all.stream().anyMatch(p -> p.pid() == child.pid() && p.ppid() == self),
          "the child, with this process as its parent");
    } finally {
      child.destroyForcibly().waitFor();
    }
  }
}
