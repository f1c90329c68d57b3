package verticles;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import process.OutputBudget;
import protocol.Errors;
import protocol.FrameDecoder;
import protocol.Request;
import protocol.Response;
import state.AgentState;
import state.Slots;
import stream.CommandRun;

/**
 * Serves {@code run}: takes a place among {@code max_runs}, hands the request to a
 * {@link CommandRun} (which starts the command without a shell, collects or streams its output,
 * applies its timeout and answers once), and replies with that answer. It routes to the runs what
 * the bus brings them: acknowledgements of streamed output, and the close of the connection that
 * asked, which kills their process trees.
 *
 * <p>It is deployed with one instance per event loop ({@link #instances}). Each serves
 * {@link Addresses#RUN} and the address of its own loop ({@link Addresses#runOn}), where
 * connections on that loop send their runs: a run is then handed over, served and answered on
 * the connection's own thread. What bounds the agent as a whole (the places among
 * {@code max_runs}, the output budgets, the stream numbers) is one for every instance.
 */
public final class RunVerticle extends VerticleBase {
  private final AgentState state;
  private final Common common;
  private final Map<String, Set<CommandRun>> byConnection = new HashMap<>();
  private CommandRun.Shared shared;

  private RunVerticle(AgentState state, Common common) {
    this.state = state;
    this.common = common;
  }

  /**
   * What every instance shares. What captured runs hold counts against one budget, and what
   * streamed runs' buffers hold beyond their own reserve (stream.OutputBuffer.RESERVE) against
   * another: a captured run that finds it spent truncates, a streamed one is read no faster than
   * its host takes it.
   */
  private record Common(OutputBudget captureBudget, FrameDecoder.Budget streamBudget,
      AtomicLong nextStream) {}

  /** Makes the instances of one deployment, every one sharing the agent-wide parts. */
  static Supplier<RunVerticle> instances(AgentState state) {
    Common common = new Common(new OutputBudget(state.config().runOutputBudgetBytes()),
        new FrameDecoder.Budget(state.config().runStreamBudgetBytes()), new AtomicLong());
    return () -> new RunVerticle(state, common);
  }

  @Override
  public Future<?> start() {
    shared = new CommandRun.Shared(new ContextLoop(vertx, vertx.getOrCreateContext()),
        state.config().runMaxOutputBytes(), common.captureBudget(), common.streamBudget(),
        this::openStream);
    EventBus bus = vertx.eventBus();
    // start() runs on this instance's event loop: the thread its address names.
    return Future.all(
        bus.<Messages.Envelope>localConsumer(Addresses.RUN, this::handle).completion(),
        bus.<Messages.Envelope>localConsumer(Addresses.runOn(Thread.currentThread()),
            this::handle).completion(),
        bus.<Messages.ConnClosed>localConsumer(Addresses.CONN_CLOSED,
            m -> connectionClosed(m.body().connId())).completion());
  }

  private void handle(Message<Messages.Envelope> message) {
    Request.Run r = (Request.Run) message.body().request();
    Slots.Slot slot = state.runs.take();
    if (slot == null) {
      message.reply(Errors.toResponse(r.id(), Errors.busy("runs (max "
          + state.config().maxRuns() + ")")));
      return;
    }
    String connId = message.body().connId();
    CommandRun run = CommandRun.of(shared, connId, r, (done, response) -> {
      slot.give();
      forget(done);
      message.reply(response);
    });
    byConnection.computeIfAbsent(connId, k -> new HashSet<>()).add(run);
    run.start();
  }

  /** A stream's frames go to its connection, whose acknowledgements come back at an address. */
  private CommandRun.Outlet.Way openStream(CommandRun.Outlet.Acks acks) {
    EventBus bus = vertx.eventBus();
    String ackAddress = Addresses.runStream(
        Long.toString(common.nextStream().incrementAndGet(), 36));
    MessageConsumer<Messages.Ack> consumer = bus.localConsumer(ackAddress,
        m -> acks.ack(m.body().epoch(), m.body().offset()));
    return new CommandRun.Outlet.Way() {
      @Override
      public void send(String connId, Response frame, long epoch, long offset) {
        bus.send(Addresses.conn(connId), new Messages.Outbound(frame, ackAddress, epoch, offset));
      }

      @Override
      public void close() {
        consumer.unregister();
      }
    };
  }

  private void forget(CommandRun run) {
    Set<CommandRun> set = byConnection.get(run.connId());
    if (set != null) {
      set.remove(run);
      if (set.isEmpty()) {
        byConnection.remove(run.connId());
      }
    }
  }

  private void connectionClosed(String connId) {
    Set<CommandRun> runs = byConnection.remove(connId);
    if (runs != null) {
      CommandRun.connectionClosed(connId, runs);
    }
  }

  /**
   * Shutdown: SIGTERM to each run's process group, then up to the kill grace for the runs to end
   * (see {@link CommandRun#terminate} and {@link CommandRun#awaitEnd}).
   */
  @Override
  public Future<?> stop() {
    List<CommandRun> all = new ArrayList<>();
    byConnection.values().forEach(all::addAll);
    CommandRun.terminate(all);
    long grace = state.config().killGraceMs();
    return vertx.executeBlocking(() -> {
      CommandRun.awaitEnd(all, grace);
      return null;
    });
  }
}
