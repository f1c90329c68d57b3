package verticles;

import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.MessageCodec;
import java.util.concurrent.TimeUnit;
import protocol.Request;
import protocol.Response;

/** The typed bodies that travel on the event bus. They never leave the JVM. */
final class Messages {
  private Messages() {}

  /**
   * Delivery of a request whose answer comes when the work is done: a run's exit, a session's
   * start. Vert.x arms a reply timer on every request and has no way to say "none", so this one is
   * set far beyond anything the agent waits for (30 days). It is not a limit: a run ends by its own
   * {@code timeout_ms}, and every handler replies, with an error if need be.
   */
  static final DeliveryOptions UNTIMED = new DeliveryOptions()
      .setSendTimeout(TimeUnit.DAYS.toMillis(30));

  /** A request and the connection it came from. */
  record Envelope(String connId, Request request) {}

  /**
   * A frame for a connection to write. When {@code ackAddress} is set, the connection sends an
   * {@link Ack} with {@code epoch} and {@code offset} there once the frame is written, which is how
   * a producer learns that it may send more.
   */
  record Outbound(Response frame, String ackAddress, long epoch, long offset) {}

  /** The frame of an {@link Outbound} up to {@code offset} has been written. */
  record Ack(String connId, long epoch, long offset) {}

  /** Make {@code connId} the receiver of a session's output. Sent after the reply is written. */
  record Attach(String connId) {}

  /** Connection {@code connId} has closed. */
  record ConnClosed(String connId) {}

  /** The process of session {@code sessionId} has exited. */
  record SessionExited(String sessionId) {}

  static void registerCodecs(EventBus bus) {
    for (Class<?> c : new Class<?>[] {Envelope.class, Outbound.class, Ack.class, Attach.class,
        ConnClosed.class, SessionExited.class, Response.class}) {
      register(bus, c);
    }
  }

  private static <T> void register(EventBus bus, Class<T> type) {
    bus.registerDefaultCodec(type, new LocalCodec<>(type.getSimpleName()));
  }

  /** Passes the same instance along; these bodies are immutable or handed over. */
  private static final class LocalCodec<T> implements MessageCodec<T, T> {
    private final String name;

    LocalCodec(String name) {
      this.name = "local-" + name;
    }

    @Override
    public void encodeToWire(io.vertx.core.buffer.Buffer buffer, T t) {
      throw new UnsupportedOperationException("local only");
    }

    @Override
    public T decodeFromWire(int pos, io.vertx.core.buffer.Buffer buffer) {
      throw new UnsupportedOperationException("local only");
    }

    @Override
    public T transform(T t) {
      return t;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public byte systemCodecID() {
      return -1;
    }
  }
}
