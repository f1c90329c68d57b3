package transport;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.LinuxSocket;
import io.netty.channel.epoll.VSockAddress;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.UnixChannel;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.function.Supplier;
import protocol.Address;
import protocol.Transport;
import sys.Threads;
import transport.sock.Sockets;

/**
 * Accepts connections on one address and hands each to the caller as a {@link Link}, on the
 * context that started the acceptor.
 *
 * <p>Every transport is a Netty server channel on Vert.x's own event loops: Vert.x's acceptor
 * thread accepts, and each accepted channel is registered on the starting context's event loop,
 * where its reads, writes and handlers run. TCP uses Netty's epoll server socket, Unix its epoll
 * domain-socket server. For vsock the listening socket is made and bound with Netty's
 * {@code LinuxSocket} and its descriptor is then served by the same domain-socket server channel,
 * so a vsock connection is the same channel class as a Unix one, reading and writing bytes the
 * same way (only addresses differ, and those are not taken from the channel).
 *
 * <p>Without the native transport (another OS or architecture) TCP falls back to NIO, and Unix
 * and vsock to blocking sockets with two threads per connection ({@link StreamLink}); a warning
 * says so.
 */
public abstract class Acceptor {
  protected final Address address;
  protected final int backlog;

  private Acceptor(Address address, int backlog) {
    this.address = address;
    this.backlog = backlog;
  }

  public Address address() {
    return address;
  }

  /** Binds; the future fails with a clear message if that is not possible. */
  public abstract Future<Void> start(Handler<Link> onLink);

  /** Stops accepting. Connections already accepted are not touched. */
  public abstract Future<Void> stop();

  /** The port actually bound (useful with port 0), or -1 when there is none. */
  public abstract int boundPort();

  /** Whether connections are served on the event loops through Netty's native epoll transport. */
  public static boolean nativeTransport(Vertx vertx) {
    return Epoll.isAvailable() && ((VertxInternal) vertx).isNativeTransportEnabled();
  }

  public static Acceptor of(Vertx vertx, Address address, int backlog) {
    if (address.transport() == Transport.TCP || nativeTransport(vertx)) {
      return new Native(vertx, address, backlog);
    }
    log.Log.warn("blocking_transport", "listen", address, "reason",
        "native epoll transport unavailable: "
        + (Epoll.unavailabilityCause() == null ? "Vert.x runs on NIO"
            : Epoll.unavailabilityCause().getMessage()));
    return new Blocking(vertx, address, backlog);
  }

  private static final class Native extends Acceptor {
    private final VertxInternal vertx;
    private final boolean epoll;
    private Channel server;
    private int accepted;

    Native(Vertx vertx, Address address, int backlog) {
      super(address, backlog);
      this.vertx = (VertxInternal) vertx;
      this.epoll = nativeTransport(vertx);
    }

    @Override
    public Future<Void> start(Handler<Link> onLink) {
      ContextInternal context = vertx.getOrCreateContext();
      ServerBootstrap b = new ServerBootstrap()
          .group(vertx.acceptorEventLoopGroup(), context.nettyEventLoop())
          .option(ChannelOption.SO_BACKLOG, backlog)
          .childOption(ChannelOption.AUTO_READ, false)
          .childHandler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              ++accepted;
              String peer = switch (address.transport()) {
                case TCP -> ch.remoteAddress() instanceof InetSocketAddress a
                    ? a.getAddress().getHostAddress() + ":" + a.getPort()
                    : String.valueOf(ch.remoteAddress());
                case VSOCK -> vsockPeer((UnixChannel) ch, accepted);
                default -> "unix#" + accepted;
              };
              ChannelLink link = new ChannelLink(ch, context, address.transport(), peer);
              ch.pipeline().addLast(link);
              context.emit(link, onLink);
            }
          });
      Promise<Void> bound = context.promise();
      try {
        ChannelFuture f;
        switch (address.transport()) {
          case TCP -> {
            b.channel(epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true);
            f = b.bind(new InetSocketAddress(address.host(), address.port()));
          }
          case UNIX -> {
            Sockets.removeStaleSocketFile(address.path());
            b.channel(EpollServerDomainSocketChannel.class);
            f = b.bind(new DomainSocketAddress(address.path().toFile()));
          }
          default -> {
            int fd = bindVsock(address.cid(), address.port(), backlog);
            Supplier<ServerChannel> made = () -> new EpollServerDomainSocketChannel(fd, true);
            b.channelFactory(made::get);
            f = b.register();
          }
        }
        f.addListener(r -> {
          if (r.isSuccess()) {
            server = f.channel();
            bound.complete();
          } else {
            bound.fail(r.cause());
          }
        });
      } catch (IOException | RuntimeException e) {
        bound.fail(e);
      }
      return bound.future().recover(e -> Future.failedFuture("cannot listen on " + address + ": "
          + (e.getMessage() == null ? e.toString() : e.getMessage())));
    }

    @Override
    public Future<Void> stop() {
      if (server == null) {
        return Future.succeededFuture();
      }
      Promise<Void> done = Promise.promise();
      server.close().addListener(r -> done.complete());
      return done.future();
    }

    @Override
    public int boundPort() {
      if (server != null && server.localAddress() instanceof InetSocketAddress a) {
        return a.getPort();
      }
      return address.transport() == Transport.VSOCK ? address.port() : -1;
    }
  }

  /**
   * The host's context id and port of an accepted vsock connection. The channel's own address
   * accessors read the socket as if it were AF_UNIX and give meaningless paths, so they are never
   * used; the descriptor is asked for its AF_VSOCK peer instead.
   */
  static String vsockPeer(UnixChannel ch, int n) {
    try {
      VSockAddress a = LinuxSocket.newSocket(ch.fd().intValue()).remoteVSockAddress();
      if (a != null) {
        return "vsock:" + Integer.toUnsignedString(a.getCid()) + ":"
            + Integer.toUnsignedString(a.getPort());
      }
    } catch (RuntimeException e) {
      // Named by its number below.
    }
    return "vsock#" + n;
  }

  /**
   * Makes, binds and listens on an AF_VSOCK stream socket, and returns its descriptor. Only the
   * descriptor is kept: the server channel that serves it reads no address from it.
   */
  static int bindVsock(int cid, int port, int backlog) throws IOException {
    Epoll.ensureAvailability();
    LinuxSocket s = LinuxSocket.newVSockStream();
    try {
      s.bindVSock(new VSockAddress(cid, port));
      s.listen(backlog);
      return s.intValue();
    } catch (IOException | RuntimeException e) {
      s.close();
      throw e;
    }
  }

  /** The fallback: a blocking junixsocket server socket with an accept thread. */
  private static final class Blocking extends Acceptor {
    /** How long a blocked accept() waits before it checks whether the acceptor was stopped. */
    private static final int ACCEPT_POLL_MS = 250;

    private final Vertx vertx;
    private volatile ServerSocket socket;
    private volatile boolean stopped;
    private final Promise<Void> closed = Promise.promise();

    Blocking(Vertx vertx, Address address, int backlog) {
      super(address, backlog);
      this.vertx = vertx;
    }

    @Override
    public Future<Void> start(Handler<Link> onLink) {
      Context context = vertx.getOrCreateContext();
      return vertx.executeBlocking(() -> {
        try {
          socket = address.transport() == Transport.UNIX
              ? Sockets.bindUnix(address.path(), backlog)
              : Sockets.bindVsock(address.cid(), address.port(), backlog);
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
        String peer = address.transport() + "#" + (++n);
        StreamLink link = new StreamLink(s, address.transport(), peer, context);
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
