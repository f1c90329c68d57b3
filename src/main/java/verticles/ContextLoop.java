package verticles;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import process.Loop;

/** A verticle's context as the {@link Loop} that its runs or its session live on. */
final class ContextLoop implements Loop {
  private final Vertx vertx;
  private final Context context;

  ContextLoop(Vertx vertx, Context context) {
    this.vertx = vertx;
    this.context = context;
  }

  @Override
  public void execute(Runnable task) {
    context.runOnContext(v -> task.run());
  }

  /** Called on the context: Vert.x fires a timer on the context that set it. */
  @Override
  public long schedule(long delayMs, Runnable task) {
    return vertx.setTimer(delayMs, id -> task.run());
  }

  @Override
  public void cancel(long timer) {
    vertx.cancelTimer(timer);
  }

  private LoopPoller poller;
  private boolean pollerAsked;

  /** Made on first use, on the loop. */
  @Override
  public process.Poller poller() {
    if (!pollerAsked) {
      pollerAsked = true;
      poller = LoopPoller.of(context);
    }
    return poller;
  }
}
