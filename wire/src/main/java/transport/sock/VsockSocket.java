package transport.sock;

import java.io.FileDescriptor;
import java.net.SocketException;

import org.newsclub.net.unix.AFSocket;
import org.newsclub.net.unix.AFSocketChannel;
import org.newsclub.net.unix.AFSocketFactory;
import org.newsclub.net.unix.AFVSOCKSocketAddress;

/**
 * One AF_VSOCK stream connection, accepted by {@link VsockServerSocket#accept()} or opened by
 * {@link Sockets#connectVsock}; to everyone else a plain {@link java.net.Socket} with
 * blocking streams.
 */
final class VsockSocket extends AFSocket<AFVSOCKSocketAddress> {

  private VsockSocket(FileDescriptor fd, AFSocketFactory<AFVSOCKSocketAddress> factory)
      throws SocketException {
    super(new VsockSocketImpl(fd), factory);
  }

  /** A fresh, unconnected socket, for an accept call or a connect. */
  static VsockSocket create() throws SocketException {
    return (VsockSocket) AFSocket.newInstance(VsockSocket::new, null);
  }

  /**
   * junixsocket wants every socket to own a channel object. We never register these with a
   * selector, so no selector provider is attached.
   */
  @Override
  protected AFSocketChannel<AFVSOCKSocketAddress> newChannel() {
    return new Channel(this);
  }

  private static final class Channel extends AFSocketChannel<AFVSOCKSocketAddress> {
    Channel(VsockSocket socket) {
      super(socket, null);
    }
  }
}
