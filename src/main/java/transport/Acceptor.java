package transport;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetServerOptions;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import transport.sock.Sockets;

/**
 * Accepts connections on one address and hands each to the caller as a {@link Link}, on the
 * context that started the acceptor. TCP uses a Vert.x NetServer; Unix and vsock use a blocking
 * junixsocket server socket with an accept thread.
 */
public abstract class Acceptor {
  /** How long a blocked accept() waits before it checks whether the acceptor was stopped. */
  private static final int ACCEPT_POLL_MS = 250;

  protected final ListenAddress address;

  private Acceptor(ListenAddress address) {
    this.address = address;
  }

  public ListenAddress address() {
    return address;
  }

  /** Binds; the future fails with a clear message if that is not possible. */
  public abstract Future<Void> start(Handler<Link> onLink);

  /** Stops accepting. Connections already accepted are not touched. */
  public abstract Future<Void> stop();

  /** The port actually bound (useful with port 0), or -1 when there is none. */
  public abstract int boundPort();

  public static Acceptor of(Vertx vertx, ListenAddress address) {
    return address.scheme().equals("tcp") ? new Tcp(vertx, address) : new Blocking(vertx, address);
  }

  private static final class Tcp extends Acceptor {
    private final Vertx vertx;
    private NetServer server;

    Tcp(Vertx vertx, ListenAddress address) {
      super(address);
      this.vertx = vertx;
    }

    @Override
    public Future<Void> start(Handler<Link> onLink) {
      server = vertx.createNetServer(new NetServerOptions().setTcpNoDelay(true)
          .setReuseAddress(true));
      server.connectHandler(s -> onLink.handle(new NetLink(s)));
      return server.listen(address.port(), address.host())
          .recover(e -> Future.failedFuture("cannot listen on " + address + ": " + e.getMessage()))
          .mapEmpty();
    }

    @Override
    public Future<Void> stop() {
      return server == null ? Future.succeededFuture() : server.close();
    }

    @Override
    public int boundPort() {
      return server == null ? -1 : server.actualPort();
    }
  }

  private static final class Blocking extends Acceptor {
    private final Vertx vertx;
    private volatile ServerSocket socket;
    private volatile boolean stopped;
    private final io.vertx.core.Promise<Void> closed = io.vertx.core.Promise.promise();

    Blocking(Vertx vertx, ListenAddress address) {
      super(address);
      this.vertx = vertx;
    }

    @Override
    public Future<Void> start(Handler<Link> onLink) {
      Context context = vertx.getOrCreateContext();
      return vertx.executeBlocking(() -> {
        try {
          socket = address.scheme().equals("unix")
              ? Sockets.bindUnix(address.path(), 128)
              : Sockets.bindVsock(address.cid(), address.port(), 128);
          socket.setSoTimeout(ACCEPT_POLL_MS);
        } catch (IOException | RuntimeException e) {
          throw new IOException("cannot listen on " + address + ": " + e.getMessage(), e);
        }
        Threads.start("accept-" + address, () -> acceptLoop(context, onLink));
        return null;
      });
    }

    private void acceptLoop(Context context, Handler<Link> onLink) {
      int n = 0;
      while (!stopped) {
        Socket s;
        try {
          s = socket.accept();
        } catch (SocketTimeoutException e) {
          continue;
        } catch (IOException e) {
          if (!stopped) {
            log.Log.error("accept_failed", "listen", address, "error", e.getMessage());
          }
          break;
        }
        String peer = address.scheme() + "#" + (++n);
        StreamLink link = new StreamLink(s, address.scheme(), peer, context);
        context.runOnContext(v -> onLink.handle(link));
      }
      // Closed here, by the accept thread itself: closing a vsock server socket while another
      // thread is inside accept() stalls for seconds.
      try {
        socket.close();
      } catch (IOException e) {
        // Already closed.
      }
      closed.complete();
    }

    @Override
    public Future<Void> stop() {
      stopped = true;
      return socket == null ? Future.succeededFuture() : closed.future();
    }

    @Override
    public int boundPort() {
      return address.port();
    }
  }
}
