package stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import process.OutputSink;
import protocol.FrameDecoder;

/**
 * Buffers of streamed runs share one budget: each always has its reserve, grows past it only as
 * far as the budget allows, gives back what it took once its bytes are acknowledged, and never
 * loses a byte for want of room (the producer is told to wait instead).
 */
class OutputBufferBudgetTest {
  private static final int CAPACITY = 256 * 1024;

  /** Counts wake-ups; the producer would read again on each. */
  private static final class CountingWaker implements OutputSink.Waker {
    final AtomicInteger wakes = new AtomicInteger();

    @Override
    public void wake() {
      wakes.incrementAndGet();
    }

    @Override
    public void wakeAfter(long ms) {
      wakes.incrementAndGet();
    }
  }

  /** Appends as much of {@code data} from {@code off} as room allows; returns the new offset. */
  private static int produce(OutputBuffer b, byte[] data, int off, OutputSink.Waker w) {
    while (off < data.length) {
      long room = b.room(w);
      if (room == 0) {
        return off;
      }
      int n = (int) Math.min(room, Math.min(4096, data.length - off));
      assertTrue(b.append(data, off, n));
      off += n;
    }
    return off;
  }

  @Test
  void aSpentBudgetLeavesEachBufferItsReserveAndLosesNothing() {
    FrameDecoder.Budget budget = new FrameDecoder.Budget(64 * 1024);
    OutputBuffer greedy = new OutputBuffer(CAPACITY, budget);
    OutputBuffer other = new OutputBuffer(CAPACITY, budget);
    byte[] data = new byte[1024 * 1024];
    new Random(7).nextBytes(data);
    CountingWaker w = new CountingWaker();

    int off = produce(greedy, data, 0, w);
    // The greedy stream took the whole budget on top of its reserve, and no more.
    assertEquals(64 * 1024, budget.used());
    assertEquals(64 * 1024 + OutputBuffer.RESERVE, off);
    assertEquals(0, greedy.room(w));
    // The other stream still has its own reserve to go on with.
    assertEquals(OutputBuffer.RESERVE, produce(other, data, 0, w));
    assertEquals(64 * 1024, budget.used());

    // Sending and acknowledging everything the greedy stream holds gives the budget back, wakes
    // the producer, and the bytes come out whole and in order.
    ByteArrayOutputStream got = new ByteArrayOutputStream();
    int wakes = w.wakes.get();
    while (off < data.length || greedy.unsent() > 0) {
      byte[] chunk = greedy.take(64 * 1024);
      if (chunk != null) {
        got.writeBytes(chunk);
        greedy.ack(greedy.sentOffset());
      }
      off = produce(greedy, data, off, w);
      assertTrue(budget.used() <= 64 * 1024);
    }
    assertTrue(w.wakes.get() > wakes, "the waiting producer was woken");
    assertArrayEquals(data, got.toByteArray());
    assertEquals(0, greedy.charged());
    assertEquals(0, budget.used());
  }

  @Test
  void whatRoomGrantedStillFitsWhenAnAcknowledgementEmptiesTheBufferMeanwhile() {
    FrameDecoder.Budget budget = new FrameDecoder.Budget(1024 * 1024);
    OutputBuffer b = new OutputBuffer(CAPACITY, budget);
    byte[] data = new byte[200 * 1024];
    new Random(11).nextBytes(data);
    CountingWaker w = new CountingWaker();
    int off = produce(b, java.util.Arrays.copyOf(data, 40 * 1024), 0, w);
    assertEquals(40 * 1024, off);
    // The producer is granted room, and before it appends, the host takes and acknowledges all.
    long granted = b.room(w);
    assertTrue(granted > OutputBuffer.RESERVE, "granted " + granted);
    ByteArrayOutputStream got = new ByteArrayOutputStream();
    byte[] chunk;
    while ((chunk = b.take(64 * 1024)) != null) {
      got.writeBytes(chunk);
    }
    b.ack(b.sentOffset());
    int n = (int) Math.min(granted, data.length - off);
    byte[] more = java.util.Arrays.copyOfRange(data, off, off + n);
    assertTrue(b.append(more, 0, n));
    while ((chunk = b.take(64 * 1024)) != null) {
      got.writeBytes(chunk);
    }
    // Every granted byte is there, after what was there before.
    assertArrayEquals(java.util.Arrays.copyOf(data, off + n), got.toByteArray());
  }

  @Test
  void closingGivesTheBudgetBack() {
    FrameDecoder.Budget budget = new FrameDecoder.Budget(1024 * 1024);
    OutputBuffer b = new OutputBuffer(CAPACITY, budget);
    produce(b, new byte[CAPACITY], 0, new CountingWaker());
    assertEquals(CAPACITY - OutputBuffer.RESERVE, budget.used());
    b.close();
    assertEquals(0, budget.used());
    assertEquals(0, b.charged());
  }

  @Test
  void withoutABudgetTheCapacityAloneLimits() {
    OutputBuffer b = new OutputBuffer(CAPACITY);
    assertEquals(CAPACITY, produce(b, new byte[CAPACITY * 2], 0, new CountingWaker()));
  }

  @Test
  void whatIsKeptPastTheLimitIsChargedAndGivenBack() {
    FrameDecoder.Budget budget = new FrameDecoder.Budget(1024 * 1024);
    OutputBuffer b = new OutputBuffer(CAPACITY, budget);
    CountingWaker w = new CountingWaker();
    b.detach();
    byte[] data = new byte[OutputBuffer.RESERVE + OutputBuffer.DETACHED_READ];
    new Random(3).nextBytes(data);
    assertTrue(b.append(data, 0, OutputBuffer.RESERVE));
    assertEquals(OutputBuffer.DETACHED_READ, b.room(w), "its reserve is full: a terminal read");
    // Read while detached, appended after an attach: kept, and the growth is charged.
    b.attach();
    assertTrue(b.append(data, OutputBuffer.RESERVE, OutputBuffer.DETACHED_READ));
    assertEquals(OutputBuffer.DETACHED_READ, budget.used());
    assertEquals(OutputBuffer.DETACHED_READ, b.charged());
    assertArrayEquals(data, b.take(data.length + 1));
    b.ack(data.length);
    assertEquals(0, budget.used(), "given back once acknowledged");
    assertEquals(0, b.charged());
  }
}
