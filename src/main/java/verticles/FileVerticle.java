package verticles;

import files.FileOps;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.eventbus.Message;
import java.util.concurrent.TimeUnit;
import protocol.Errors;
import protocol.Request;
import protocol.Response;

/**
 * Serves the file requests on a pool of their own, never on an event loop and never on the pool
 * that spawns and kills: a slow or stuck file system cannot hold up runs, and a storm of runs
 * cannot hold up file requests.
 */
public final class FileVerticle extends VerticleBase {
  /** Threads for file work: enough to overlap a few slow disks, few enough to stay small. */
  static final int POOL_SIZE = 4;

  private final state.AgentState state;
  private WorkerExecutor pool;

  public FileVerticle(state.AgentState state) {
    this.state = state;
  }

  @Override
  public Future<?> start() {
    // A request on a stuck file system may take long; the checker only warns about it.
    pool = vertx.createSharedWorkerExecutor("agent-file", POOL_SIZE, 5, TimeUnit.MINUTES);
    return vertx.eventBus().<Messages.Envelope>localConsumer(Addresses.FILE, this::handle)
        .completion();
  }

  @Override
  public Future<?> stop() {
    return pool.close();
  }

  private void handle(Message<Messages.Envelope> message) {
    Request.FileRequest r = (Request.FileRequest) message.body().request();
    // What a read_file or list_dir takes of the budget for answers on their way to hosts.
    long[] taken = {0};
    pool.executeBlocking(() -> serve(r, n -> {
      if (!state.answers.tryTake(n)) {
        return false;
      }
      taken[0] += n;
      return true;
    }), false).onComplete(ar -> {
      long n = taken[0];
      if (ar.failed()) {
        state.answers.give(n);
        message.reply(Errors.toResponse(r.id(), ar.cause()));
        return;
      }
      // Held until the connection has made the answer a frame (which it then counts itself).
      message.reply(n == 0 ? ar.result() : ar.result().whenFramed(() -> state.answers.give(n)));
    });
  }

  private static Response serve(Request.FileRequest r,
      java.util.function.LongPredicate reserve) {
    return r.accept(new Request.FileHandler<>() {
      @Override
      public Response write(Request.WriteFile w) {
        return FileOps.write(w);
      }

      @Override
      public Response read(Request.ReadFile rf) {
        return FileOps.read(rf, reserve);
      }

      @Override
      public Response remove(Request.RemoveFile rm) {
        return FileOps.remove(rm);
      }

      @Override
      public Response mkdir(Request.Mkdir m) {
        return FileOps.mkdir(m);
      }

      @Override
      public Response stat(Request.Stat st) {
        return FileOps.stat(st);
      }

      @Override
      public Response list(Request.ListDir l) {
        return FileOps.list(l, reserve);
      }

      @Override
      public Response rename(Request.Rename rn) {
        return FileOps.rename(rn);
      }
    });
  }
}
