package stream;

import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import protocol.Response;

/**
 * Moves bytes from an {@link OutputBuffer} to the connection that receives them, as frames on the
 * event bus, with at most {@link #WINDOW} bytes unacknowledged. Runs on one thread, its
 * {@code loop} (an event loop, or any executor that runs tasks one at a time); only
 * {@link #wake()} may be called from other threads.
 *
 * <p>A frame is sent at once when nothing is in flight, so an interactive echo is not delayed.
 * While a frame is in flight, small reads accumulate until its acknowledgement comes back or a
 * full chunk is ready, so a busy producer gets few large frames instead of many small ones.
 */
public final class StreamPump {
  public static final int CHUNK = 64 * 1024;
  public static final int WINDOW = 4 * CHUNK;

  /** Makes the frame for one chunk; {@code dropped} is the count of bytes lost before it. */
  public interface FrameMaker {
    Response frame(byte[] data, long dropped);
  }

  /** Sends a frame to a connection; the connection acknowledges it at {@code ackAddress}. */
  public interface Sender {
    void send(String connId, Response frame, long epoch, long offset);
  }

  private final Executor loop;
  private final OutputBuffer buffer;
  private final FrameMaker maker;
  private final Sender sender;
  private final Runnable onDrained;
  private final AtomicBoolean scheduled = new AtomicBoolean();
  /** What a {@link #wake()} runs on the loop, made once rather than at each wake. */
  private final Runnable woken = () -> {
    scheduled.set(false);
    pump();
  };
  /** Read by {@link #wake()} on other threads, so that a detached pump is not woken in vain. */
  private volatile String receiver;
  private long epoch;
  private boolean drainedSignalled;

  public StreamPump(Executor loop, OutputBuffer buffer, FrameMaker maker, Sender sender,
      Runnable onDrained) {
    this.loop = loop;
    this.buffer = buffer;
    this.maker = maker;
    this.sender = sender;
    this.onDrained = onDrained;
  }

  public String receiver() {
    return receiver;
  }

  /**
   * Makes {@code connId} the receiver; unacknowledged bytes are sent again to it. The receiver
   * itself attaching again gets nothing twice: what is on its way to it still arrives, in order.
   */
  public void attach(String connId) {
    if (connId.equals(receiver)) {
      // Only the end is told again (see the drained signal), as to any receiver that attaches.
      drainedSignalled = false;
      pump();
      return;
    }
    epoch++;
    receiver = connId;
    drainedSignalled = false;
    buffer.attach();
    pump();
  }

  /** No receiver any more; output is kept in the buffer (and the oldest dropped when full). */
  public void detach() {
    epoch++;
    receiver = null;
    buffer.detach();
  }

  /** An acknowledgement from the receiver. Stale epochs are ignored. */
  public void ack(long ackEpoch, long offset) {
    if (ackEpoch == epoch) {
      buffer.ack(offset);
      pump();
    }
  }

  /** New bytes or the end of the stream; callable from any thread. */
  public void wake() {
    // Without a receiver there is nothing to do; attach() pumps what accumulated meanwhile.
    if (receiver != null && scheduled.compareAndSet(false, true)) {
      loop.execute(woken);
    }
  }

  private void pump() {
    if (receiver == null) {
      return;
    }
    while (buffer.inFlight() < WINDOW) {
      long unsent = buffer.unsent();
      if (unsent == 0) {
        if (!drainedSignalled && buffer.acknowledged()) {
          drainedSignalled = true;
          onDrained.run();
        }
        return;
      }
      if (unsent < CHUNK && buffer.inFlight() > 0 && !buffer.isFinished()) {
        return;
      }
      long dropped = buffer.takeDropped();
      byte[] data = buffer.take(CHUNK);
      sender.send(receiver, maker.frame(data, dropped), epoch, buffer.sentOffset());
    }
  }
}
