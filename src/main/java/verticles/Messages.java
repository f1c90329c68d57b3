package verticles;

import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.MessageCodec;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
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

  /**
   * The connection's word on an answer whose author asked to hear back ({@code replyAndRequest}):
   * whether connection {@code connId} wrote it ({@code written}) or dropped it, the connection
   * being gone. How a session learns that its answer is on the wire before it sends output.
   */
  record Written(String connId, boolean written) {}

  /** Connection {@code connId} has closed. */
  record ConnClosed(String connId) {}

  /**
   * To a session: {@code connId} now receives its output, or nobody does ({@code null}): the
   * output is then kept as backlog. Sent by the registry alone, in the order it decides.
   */
  record Receiver(String connId) {}

  /** To the registry: session {@code sessionId} serves its own address. */
  record SessionListening(String sessionId) {}

  /** To the registry: the process of session {@code sessionId} has exited with {@code exitCode}. */
  record SessionExited(String sessionId, int exitCode) {}

  /**
   * Whether a request failed because nobody took it: no consumer at its address, or one that
   * stopped before taking it (Vert.x then answers in the consumer's stead, with a timeout).
   */
  static boolean undelivered(Throwable e) {
    return e instanceof ReplyException re && (re.failureType() == ReplyFailure.NO_HANDLERS
        || re.failureType() == ReplyFailure.TIMEOUT);
  }

  static void registerCodecs(EventBus bus) {
    for (Class<?> c : new Class<?>[] {Envelope.class, Outbound.class, Ack.class, Written.class,
        ConnClosed.class, Receiver.class, SessionListening.class, SessionExited.class,
        Response.class}) {
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
