package stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import protocol.Response;

/** The pump driven by hand, without an event loop: attach and ack make it run. */
class StreamPumpTest {
  record Sent(String conn, byte[] data, long dropped, long epoch, long offset) {}

  private final List<Sent> sent = new ArrayList<>();
  private final List<byte[]> chunks = new ArrayList<>();
  private final List<Long> drops = new ArrayList<>();
  private int drained;

  private StreamPump pump(OutputBuffer buffer) {
    return new StreamPump(null, buffer, (data, dropped) -> {
      chunks.add(data);
      drops.add(dropped);
      return Response.of("x");
    }, (conn, frame, epoch, offset) -> sent.add(new Sent(conn, chunks.get(chunks.size() - 1),
        drops.get(drops.size() - 1), epoch, offset)), () -> drained++);
  }

  private static byte[] filled(int n, int value) {
    byte[] b = new byte[n];
    java.util.Arrays.fill(b, (byte) value);
    return b;
  }

  @Test
  void aFirstSmallWriteGoesAtOnceAndLaterOnesWaitForTheAck() {
    OutputBuffer buffer = new OutputBuffer(1 << 20);
    StreamPump pump = pump(buffer);
    buffer.append(filled(10, 1), 0, 10);
    pump.attach("c1");
    assertEquals(1, sent.size(), "nothing in flight: sent at once, for an interactive echo");
    Sent first = sent.get(0);
    assertEquals("c1", first.conn());
    assertEquals(10, first.offset());
    buffer.append(filled(20, 2), 0, 20);
    pump.ack(first.epoch(), 5);
    assertEquals(1, sent.size(), "small output waits while a frame is in flight");
    pump.ack(first.epoch(), 10);
    assertEquals(2, sent.size());
    assertArrayEquals(filled(20, 2), sent.get(1).data());
    assertEquals(30, sent.get(1).offset());
  }

  @Test
  void noMoreThanTheWindowIsInFlight() {
    OutputBuffer buffer = new OutputBuffer(1 << 22);
    StreamPump pump = pump(buffer);
    byte[] big = new byte[StreamPump.WINDOW * 2];
    buffer.append(big, 0, big.length);
    pump.attach("c");
    assertEquals(StreamPump.WINDOW / StreamPump.CHUNK, sent.size());
    assertTrue(sent.stream().allMatch(s -> s.data().length == StreamPump.CHUNK));
    assertEquals(StreamPump.WINDOW, buffer.inFlight());
    Sent last = sent.get(sent.size() - 1);
    pump.ack(last.epoch(), StreamPump.CHUNK);
    assertEquals(StreamPump.WINDOW / StreamPump.CHUNK + 1, sent.size(), "one chunk acked, one sent");
  }

  @Test
  void anAckFromAnEarlierReceiverIsIgnoredAndTheNewOneGetsTheUnackedBytes() {
    OutputBuffer buffer = new OutputBuffer(1 << 20);
    StreamPump pump = pump(buffer);
    buffer.append(filled(10, 7), 0, 10);
    pump.attach("old");
    long oldEpoch = sent.get(0).epoch();
    pump.detach();
    pump.attach("new");
    assertEquals(2, sent.size());
    assertEquals("new", sent.get(1).conn());
    assertArrayEquals(filled(10, 7), sent.get(1).data(), "sent again: never acknowledged");
    pump.ack(oldEpoch, 10);
    assertEquals(10, buffer.inFlight(), "the old receiver's ack counts for nothing");
    pump.ack(sent.get(1).epoch(), 10);
    assertEquals(0, buffer.inFlight());
  }

  @Test
  void droppedBytesAreReportedWithTheNextFrame() {
    OutputBuffer buffer = new OutputBuffer(8);
    StreamPump pump = pump(buffer);
    pump.detach();
    buffer.append(filled(20, 3), 0, 20);
    pump.attach("c");
    assertEquals(List.of(12L), drops);
    assertArrayEquals(filled(8, 3), sent.get(0).data());
  }

  @Test
  void drainedIsSignalledOnceAfterTheLastAck() {
    OutputBuffer buffer = new OutputBuffer(1 << 20);
    StreamPump pump = pump(buffer);
    buffer.append(filled(3, 1), 0, 3);
    buffer.finish();
    pump.attach("c");
    assertEquals(0, drained, "sent, not yet acknowledged");
    pump.ack(sent.get(0).epoch(), 3);
    assertEquals(1, drained);
    pump.ack(sent.get(0).epoch(), 3);
    assertEquals(1, drained, "once");
  }

  @Test
  void detachedThePumpSendsNothing() {
    OutputBuffer buffer = new OutputBuffer(1 << 20);
    StreamPump pump = pump(buffer);
    buffer.append(filled(3, 1), 0, 3);
    pump.detach();
    pump.wake();
    pump.ack(0, 0);
    assertEquals(List.of(), sent);
    assertEquals(null, pump.receiver());
  }
}
