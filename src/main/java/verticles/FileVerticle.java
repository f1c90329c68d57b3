package verticles;

import files.FileOps;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import protocol.Errors;
import protocol.Request;
import protocol.Response;
import sys.ElasticPool;

/**
 * Serves the file requests on a pool of their own, never on an event loop and never on the pool
 * that spawns and kills: a slow or stuck file system cannot hold up runs, and a storm of runs
 * cannot hold up file requests.
 *
 * <p>A file call on a file system that hangs holds its thread until that file system answers,
 * and no kill frees it. So the pool grows by up to {@link #EXTRA} threads while all of its
 * threads are stuck ({@code file_stuck}), and once those are stuck too, file requests are answered
 * {@code Busy} at once ({@code file_full}) instead of waiting for a thread that may never come back.
 */
public final class FileVerticle extends VerticleBase {
  /** Threads for file work: enough to overlap a few slow disks, few enough to stay small. */
  static final int POOL_SIZE = 4;
  /** Threads started beyond those, at most, while all of them are stuck. */
  static final int EXTRA = 12;
  /** How long one file request may hold its thread before the thread counts as stuck. */
  static final long STUCK_MS = 1000;
  /** How long an extra thread stays without work ({@code -Dagent.file.idle_seconds}). */
  static final long IDLE_SECONDS = Long.getLong("agent.file.idle_seconds", 30);

  private final state.AgentState state;
  private ElasticPool pool;

  public FileVerticle(state.AgentState state) {
    this.state = state;
  }

  @Override
  public Future<?> start() {
    pool = ElasticPool.create(new ElasticPool.Shape("agent-file", "file", POOL_SIZE, EXTRA,
        STUCK_MS, IDLE_SECONDS), FileOps::threadEnds, task -> ((Task) task).refuse());
    return vertx.eventBus().<Messages.Envelope>localConsumer(Addresses.FILE, this::handle)
        .completion();
  }

  @Override
  public Future<?> stop() {
    // A thread stuck on a file system ends with the agent: it is a daemon.
    pool.shutdown();
    return Future.succeededFuture();
  }

  private void handle(Message<Messages.Envelope> message) {
    pool.execute(new Task(message, (Request.FileRequest) message.body().request()));
  }

  /** One file request: served on the pool, answered on this verticle's context. */
  private final class Task implements Runnable {
    private final Message<Messages.Envelope> message;
    private final Request.FileRequest request;
    /** What a read_file or list_dir takes of the budget for answers on their way to hosts. */
    private long taken;

    Task(Message<Messages.Envelope> message, Request.FileRequest request) {
      this.message = message;
      this.request = request;
    }

    @Override
    public void run() {
      Response response;
      try {
        response = serve(request, this::reserve);
      } catch (Throwable t) {
        response = Errors.toResponse(request.id(), t);
        state.answers.give(taken);
        taken = 0;
      }
      Response answer = response;
      context.runOnContext(v -> {
        long n = taken;
        // Held until the connection has made the answer a frame (which it then counts itself).
        message.reply(n == 0 ? answer : answer.whenFramed(() -> state.answers.give(n)));
      });
    }

    private boolean reserve(long n) {
      if (!state.answers.tryTake(n)) {
        return false;
      }
      taken += n;
      return true;
    }

    /** No thread can take this request: every one waits on a file system that does not answer. */
    void refuse() {
      context.runOnContext(v -> message.reply(Errors.toResponse(request.id(), Errors.busy(
          "file threads (" + pool.getMaximumPoolSize() + "), every one waiting on a file system"
              + " that does not answer"))));
    }
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
