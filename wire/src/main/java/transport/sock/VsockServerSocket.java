package transport.sock;

import java.io.FileDescriptor;
import java.io.IOException;

import org.newsclub.net.unix.AFServerSocket;
import org.newsclub.net.unix.AFServerSocketChannel;
import org.newsclub.net.unix.AFSocket;
import org.newsclub.net.unix.AFSocketImpl;
import org.newsclub.net.unix.AFVSOCKSocketAddress;

/**
 * A blocking AF_VSOCK listening socket. Binding, listening, accept timeouts and closing are
 * inherited from junixsocket; this class only supplies the vsock-specific pieces it asks for.
 * Use {@link Sockets#bindVsock(int, int, int)} rather than creating one directly.
 */
final class VsockServerSocket extends AFServerSocket<AFVSOCKSocketAddress> {

  VsockServerSocket() throws IOException {
    super();
  }

  @Override
  protected AFSocketImpl<AFVSOCKSocketAddress> newImpl(FileDescriptor fd) {
    return new VsockSocketImpl(fd);
  }

  @Override
  protected AFSocket<AFVSOCKSocketAddress> newSocketInstance() throws IOException {
    return VsockSocket.create();
  }

  /**
   * Called by the superclass constructor, before any field of this class is set. The channel is
   * only consulted by junixsocket itself (for the blocking flag); it is never used with a
   * selector, so it has no selector provider.
   */
  @Override
  protected AFServerSocketChannel<AFVSOCKSocketAddress> newChannel() {
    return new Channel(this);
  }

  private static final class Channel extends AFServerSocketChannel<AFVSOCKSocketAddress> {
    Channel(VsockServerSocket socket) {
      super(socket, null);
    }
  }
}
