package verticles;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.Message;
import files.FileOps;
import protocol.Errors;
import protocol.Request;
import protocol.Response;

/** Serves the file requests. Every operation runs on a worker thread, never on an event loop. */
public final class FileVerticle extends VerticleBase {
  @Override
  public Future<?> start() {
    return vertx.eventBus().<Messages.Envelope>localConsumer(Addresses.FILE, this::handle)
        .completion();
  }

  private void handle(Message<Messages.Envelope> message) {
    Request r = message.body().request();
    vertx.executeBlocking(() -> serve(r), false).onComplete(ar -> message.reply(
        ar.succeeded() ? ar.result() : Errors.toResponse(r.id(), ar.cause())));
  }

  private static Response serve(Request r) {
    return switch (r.type()) {
      case WRITE_FILE -> FileOps.write(r);
      case READ_FILE -> FileOps.read(r);
      case REMOVE_FILE -> FileOps.remove(r);
      case MKDIR -> FileOps.mkdir(r);
      case STAT -> FileOps.stat(r);
      case LIST_DIR -> FileOps.list(r);
      case RENAME -> FileOps.rename(r);
      default -> throw new IllegalArgumentException("not a file request: " + r.type());
    };
  }
}
