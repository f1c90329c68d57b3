package stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import process.OutputSink;

class OutputBufferTest {
  private static final long SEED = Long.getLong("fuzz.seed", 0x5EEDL);

  /** Counts the wake-ups a producer would get. */
  static final class Waker implements OutputSink.Waker {
    int wakes;
    final List<Long> pauses = new ArrayList<>();

    @Override
    public void wake() {
      wakes++;
    }

    @Override
    public void wakeAfter(long ms) {
      pauses.add(ms);
    }
  }

  private static byte[] bytes(int from, int n) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) (from + i);
    }
    return b;
  }

  @Test
  void aFullAttachedBufferStopsTheProducerUntilAnAckMakesRoom() {
    OutputBuffer b = new OutputBuffer(10);
    Waker w = new Waker();
    assertEquals(10, b.room(w));
    assertTrue(b.append(bytes(0, 10), 0, 10));
    assertEquals(0, b.room(w));
    assertEquals(0, w.wakes);
    assertArrayEquals(bytes(0, 4), b.take(4));
    assertEquals(0, b.room(w), "sent is not acknowledged: no room yet");
    b.ack(4);
    assertEquals(1, w.wakes, "the waiting producer is woken once");
    assertEquals(4, b.room(w));
    b.ack(4);
    assertEquals(1, w.wakes, "an old offset wakes nobody");
    b.ack(5);
    assertEquals(4, b.room(w), "an ack beyond what was sent is ignored");
  }

  @Test
  void detachRewindsToTheLastAckAndAttachSendsItAgain() {
    OutputBuffer b = new OutputBuffer(100);
    b.append(bytes(0, 30), 0, 30);
    assertArrayEquals(bytes(0, 20), b.take(20));
    b.ack(10);
    b.detach();
    assertEquals(0, b.inFlight());
    assertEquals(20, b.unsent());
    b.attach();
    assertArrayEquals(bytes(10, 20), b.take(100), "everything unacknowledged, again");
    assertNull(b.take(100));
  }

  @Test
  void detachedAFullBufferDropsTheOldestAndCountsThem() {
    OutputBuffer b = new OutputBuffer(10);
    b.detach();
    Waker w = new Waker();
    assertEquals(OutputBuffer.DETACHED_READ, b.room(w), "full or not, a terminal read");
    b.append(bytes(0, 25), 0, 25);
    assertEquals(15, b.takeDropped());
    assertEquals(0, b.takeDropped(), "the count resets when taken");
    b.attach();
    assertArrayEquals(bytes(15, 10), b.take(100), "the newest bytes stay");
  }

  @Test
  void detachedTheGrantIsTheFreeSpaceWhenThatIsMore() {
    OutputBuffer b = new OutputBuffer(100_000);
    b.detach();
    Waker w = new Waker();
    assertEquals(100_000, b.room(w));
    b.append(new byte[90_000], 0, 90_000);
    assertEquals(10_000, b.room(w));
    b.append(new byte[10_000], 0, 10_000);
    assertEquals(OutputBuffer.DETACHED_READ, b.room(w));
  }

  /**
   * A buffer of 10 bytes, full while nobody receives; the producer asks for room (a terminal read,
   * though the buffer is full) and reads 6 bytes, and an attach makes the buffer block before
   * they are appended.
   */
  private static OutputBuffer overtakenByAnAttach(Waker w) {
    OutputBuffer b = new OutputBuffer(10);
    b.detach();
    b.append(bytes(0, 10), 0, 10);
    assertEquals(OutputBuffer.DETACHED_READ, b.room(w));
    b.attach();
    assertTrue(b.append(bytes(10, 6), 0, 6));
    return b;
  }

  @Test
  void whatWasReadWhileDetachedIsKeptWholeWhenAnAttachComesFirst() {
    Waker w = new Waker();
    OutputBuffer b = overtakenByAnAttach(w);
    assertEquals(0, b.takeDropped(), "nothing dropped: kept past the limit");
    assertEquals(0, b.room(w), "no more room until acknowledgements bring it under the limit");
    assertArrayEquals(bytes(0, 16), b.take(100), "every byte, in order");
    b.ack(6);
    assertEquals(0, b.room(w), "still at the limit");
    b.ack(16);
    assertEquals(10, b.room(w));
    assertTrue(b.append(bytes(16, 10), 0, 10));
    assertArrayEquals(bytes(16, 10), b.take(100));
  }

  @Test
  void detachedPastTheLimitDropsDownToTheCapacity() {
    Waker w = new Waker();
    OutputBuffer b = overtakenByAnAttach(w);
    b.detach();
    assertEquals(OutputBuffer.DETACHED_READ, b.room(w));
    b.append(bytes(16, 3), 0, 3);
    assertEquals(9, b.takeDropped(), "the oldest, down to the capacity with the new bytes");
    b.attach();
    assertArrayEquals(bytes(9, 10), b.take(100), "the newest bytes stay");
  }

  @Test
  void droppingPausesAfterEachBurst() {
    OutputBuffer b = new OutputBuffer(1024);
    b.detach();
    Waker w = new Waker();
    byte[] chunk = new byte[1024];
    long fed = 0;
    while (b.room(w) > 0) {
      b.append(chunk, 0, chunk.length);
      fed += chunk.length;
      assertTrue(fed < 10 * OutputBuffer.DROP_BURST, "never paused");
    }
    assertEquals(List.of(OutputBuffer.DROP_PAUSE_MS), w.pauses);
    assertTrue(fed - 1024 >= OutputBuffer.DROP_BURST, "paused only after a burst: " + fed);
    assertEquals(OutputBuffer.DETACHED_READ, b.room(w), "then goes on");
  }

  @Test
  void acknowledgedOnlyWhenFinishedAndAllAcked() {
    OutputBuffer b = new OutputBuffer(100);
    b.append(bytes(0, 5), 0, 5);
    b.take(5);
    b.ack(5);
    assertFalse(b.acknowledged(), "not finished");
    b.finish();
    assertTrue(b.isFinished());
    assertTrue(b.acknowledged());
  }

  @Test
  void closedItTellsTheProducerToStop() {
    OutputBuffer b = new OutputBuffer(4);
    Waker w = new Waker();
    b.append(bytes(0, 4), 0, 4);
    assertEquals(0, b.room(w));
    b.close();
    assertEquals(1, w.wakes, "a waiting producer is woken to learn it");
    assertEquals(Long.MAX_VALUE, b.room(w));
    assertFalse(b.append(bytes(0, 1), 0, 1));
    assertTrue(b.isFinished());
  }

  /** Random appends, takes and acks through ring growth and wrap: bytes come out as they went in. */
  @Test
  void whatComesOutIsWhatWentInInOrder() {
    Random rnd = new Random(SEED);
    for (int round = 0; round < 60; round++) {
      int capacity = 1 + rnd.nextInt(40_000);
      OutputBuffer b = new OutputBuffer(capacity);
      ByteArrayOutputStream in = new ByteArrayOutputStream();
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      Waker w = new Waker();
      int next = 0;
      for (int step = 0; step < 200; step++) {
        long room = b.room(w);
        int n = (int) Math.min(room, rnd.nextInt(Math.min(capacity, 8192) + 1));
        byte[] data = bytes(next, n);
        next += n;
        b.append(data, 0, n);
        in.write(data, 0, n);
        byte[] got = b.take(1 + rnd.nextInt(Math.min(capacity, 8192)));
        if (got != null) {
          out.write(got, 0, got.length);
        }
        if (rnd.nextBoolean()) {
          b.ack(b.sentOffset());
        }
      }
      b.ack(b.sentOffset());
      byte[] rest;
      while ((rest = b.take(capacity)) != null) {
        out.write(rest, 0, rest.length);
        b.ack(b.sentOffset());
      }
      assertArrayEquals(in.toByteArray(), out.toByteArray(), "seed " + SEED + " round " + round);
    }
  }
}
