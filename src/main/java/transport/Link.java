package transport;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import protocol.Transport;

/**
 * One accepted connection, whatever its transport. Every method is called on the connection's
 * context, and every handler is called there.
 */
public interface Link {
  /** TCP, Unix or vsock. */
  Transport transport();

  /** Who is on the other end, for logs. */
  String peer();

  /** Starts reading: each chunk goes to {@code data}; {@code closed} is called once at the end. */
  void start(Handler<byte[]> data, Handler<Void> closed);

  /**
   * Asks to hear, before {@link #start}, when the peer has only shut down its sending side and
   * still reads: {@code inputEnded} is called then, and the link stays open for writing until it
   * is closed. Where the transport cannot tell that from a close (TCP, or a connection without
   * the native transport), or without this handler, the end of input closes the link.
   */
  default void onInputEnded(Handler<Void> inputEnded) {
  }

  /** Queues bytes; the future completes once they have been handed to the operating system. */
  Future<Void> write(byte[] bytes);

  /** Bytes queued and not yet written. */
  long queuedBytes();

  /**
   * When the write queue last made progress ({@link System#nanoTime()}): some of its bytes went
   * to the operating system, or it became non-empty.
   */
  long lastWriteProgress();

  /** Stops or restarts delivering incoming data. */
  void pause();

  void resume();

  /** Closes after the bytes already queued have been written. */
  void close();

  /** Closes at once: what is still queued is dropped. */
  void abort();
}
