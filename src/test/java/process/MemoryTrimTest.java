package process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import support.Poll;
import sys.LibC;

/**
 * The trim after a burst: one timer however often a trim is wanted, a trim only once nothing has
 * started for the quiet time, the timer armed again while things start, and nothing armed
 * without a timer. The timer here runs its tasks when the test says, so each step is seen.
 */
class MemoryTrimTest {
  private final RecordingLoop loop = new RecordingLoop();
  /** The tasks armed so far, in order; the test runs them. */
  private final List<Runnable> armed = loop.scheduled;
  private final AtomicLong starts = new AtomicLong();

  @AfterEach
  void uninstall() {
    MemoryTrim.install(null, 0, () -> 0);
  }

  private void install() {
    MemoryTrim.install(loop, 250, starts::get);
  }

  @Test
  void aBurstArmsOneTimerAndTheTrimComesOnceNothingStarted() throws Exception {
    install();
    long trims = MemoryTrim.trims();
    for (int i = 0; i < 100; i++) {
      MemoryTrim.wanted();
    }
    assertEquals(1, armed.size());
    assertEquals(List.of(250L), loop.delays, "armed for the quiet time");
    assertTrue(MemoryTrim.pending());
    armed.get(0).run();
    assertFalse(MemoryTrim.pending());
    Poll.until("a trim", 30_000, () -> MemoryTrim.trims() == trims + 1);
    assertEquals(1, armed.size(), "nothing is armed once the trim is done");
    // The next burst arms again.
    MemoryTrim.wanted();
    assertEquals(2, armed.size());
  }

  @Test
  void whatStartsDuringTheQuietTimePutsTheTrimOff() throws Exception {
    install();
    long trims = MemoryTrim.trims();
    MemoryTrim.wanted();
    starts.addAndGet(3);
    armed.get(0).run();
    assertEquals(2, armed.size(), "armed again");
    assertTrue(MemoryTrim.pending());
    assertEquals(trims, MemoryTrim.trims());
    MemoryTrim.wanted();
    assertEquals(2, armed.size(), "still one timer");
    armed.get(1).run();
    Poll.until("a trim", 30_000, () -> MemoryTrim.trims() == trims + 1);
    assertFalse(MemoryTrim.pending());
  }

  @Test
  void withoutATimerNothingWaits() {
    MemoryTrim.install(null, 250, starts::get);
    MemoryTrim.wanted();
    assertFalse(MemoryTrim.pending());
  }

  @Test
  void aTimerOfAnEarlierInstallTrimsNothing() {
    install();
    long trims = MemoryTrim.trims();
    MemoryTrim.wanted();
    Runnable stale = armed.get(0);
    install();
    stale.run();
    assertEquals(trims, MemoryTrim.trims());
    assertFalse(MemoryTrim.pending());
  }

  @Test
  void theTrimGivesTheFreedMemoryBack() {
    assertTrue(LibC.Malloc.available(), "glibc here");
    // 64 MiB in blocks small enough to come from the C library's heap, each written to; then
    // every other one freed, so that each freed block lies between two held ones and the
    // library cannot give it back by itself, wherever in its heap the blocks landed.
    List<com.sun.jna.Memory> blocks = new ArrayList<>();
    for (int i = 0; i < 4096; i++) {
      com.sun.jna.Memory m = new com.sun.jna.Memory(16 * 1024);
      m.clear();
      blocks.add(m);
    }
    for (int i = 0; i < blocks.size(); i += 2) {
      blocks.get(i).close();
    }
    long trims = MemoryTrim.trims();
    long before = MemoryTrim.residentKib();
    MemoryTrim.trimNow();
    long after = MemoryTrim.residentKib();
    blocks.forEach(com.sun.jna.Memory::close);
    assertEquals(trims + 1, MemoryTrim.trims());
    assertTrue(before - after >= 16 * 1024, "RSS " + before + " KiB, then " + after);
  }
}
