package verticles;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import java.util.ArrayList;
import java.util.List;
import log.Log;
import protocol.Address;
import protocol.Errors;
import protocol.FrameDecoder;
import protocol.ResponseWriter;
import protocol.Transport;
import state.AgentState;
import transport.Acceptor;
import transport.Link;

/**
 * Accepts host connections on every configured address. Each accepted link becomes a
 * {@link Connection}; past the connection limit a link gets one {@code Busy} frame and is closed.
 */
public final class ListenerVerticle extends VerticleBase {
  private final AgentState state;
  private final List<Address> addresses;
  private final List<Acceptor> acceptors = new ArrayList<>();
  private long nextId;
  /** Bytes held in incomplete frames, over every connection of every address. */
  private FrameDecoder.Budget frameBudget;
  /** Bytes of complete requests until they are answered, over every connection. */
  private FrameDecoder.Budget requestBudget;
  /** Answers queued for hosts, over every connection. */
  private WriteQueues writeQueues;

  public ListenerVerticle(AgentState state, List<Address> addresses) {
    this.state = state;
    this.addresses = addresses;
  }

  @Override
  public Future<?> start() {
    frameBudget = new FrameDecoder.Budget(state.config().frameBudgetBytes());
    requestBudget = new FrameDecoder.Budget(state.config().requestBudgetBytes());
    writeQueues = new WriteQueues(state.answers);
    List<Future<Void>> bound = new ArrayList<>();
    for (Address a : addresses) {
      Acceptor acceptor = Acceptor.of(vertx, a, state.config().listenBacklog());
      acceptors.add(acceptor);
      bound.add(acceptor.start(this::accept)
          .onSuccess(v -> Log.info("listening", "address", display(acceptor))));
    }
    return Future.all(bound);
  }

  private static String display(Acceptor a) {
    Address l = a.address();
    return l.transport() == Transport.TCP && l.port() == 0
        ? Address.tcp(l.host(), a.boundPort()).toString()
        : l.toString();
  }

  private void accept(Link link) {
    state.Slots.Slot slot = state.connections.take();
    if (slot == null) {
      Log.warn("connection_refused", "transport", link.transport(), "reason", "busy");
      link.start(b -> { }, v -> { });
      link.write(ResponseWriter.frame(Errors.toResponse("", Errors.busy("connections (max "
          + state.config().maxConnections() + ")"))));
      link.close();
      return;
    }
    new Connection(vertx, link, Long.toString(++nextId, 36), state, slot, frameBudget,
        requestBudget, writeQueues).start();
  }

  /** Closes every listening socket; the connections accepted go on. */
  Future<?> stopAccepting() {
    List<Future<Void>> stopped = new ArrayList<>();
    for (Acceptor a : acceptors) {
      stopped.add(a.stop());
    }
    return Future.join(stopped);
  }

  @Override
  public Future<?> stop() {
    return stopAccepting();
  }
}
