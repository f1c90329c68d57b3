package transport;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetSocket;
import java.util.concurrent.atomic.AtomicLong;

/** A TCP connection accepted by a Vert.x NetServer. */
final class NetLink implements Link {
  private final NetSocket socket;
  private final AtomicLong queued = new AtomicLong();

  NetLink(NetSocket socket) {
    this.socket = socket;
  }

  @Override
  public String transport() {
    return "tcp";
  }

  @Override
  public String peer() {
    return String.valueOf(socket.remoteAddress());
  }

  @Override
  public void start(Handler<byte[]> data, Handler<Void> closed) {
    socket.handler(b -> data.handle(b.getBytes()));
    socket.closeHandler(closed);
    socket.exceptionHandler(e -> socket.close());
  }

  @Override
  public Future<Void> write(byte[] bytes) {
    queued.addAndGet(bytes.length);
    return socket.write(Buffer.buffer(bytes)).andThen(ar -> queued.addAndGet(-bytes.length));
  }

  @Override
  public long queuedBytes() {
    return queued.get();
  }

  @Override
  public void pause() {
    socket.pause();
  }

  @Override
  public void resume() {
    socket.resume();
  }

  @Override
  public void close() {
    socket.close();
  }
}
