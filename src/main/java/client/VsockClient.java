package client;

import java.io.FileDescriptor;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import org.newsclub.net.unix.AFSocket;
import org.newsclub.net.unix.AFSocketCapability;
import org.newsclub.net.unix.AFSocketChannel;
import org.newsclub.net.unix.AFSocketFactory;
import org.newsclub.net.unix.AFSocketImpl;
import org.newsclub.net.unix.AFVSOCKSocketAddress;

/**
 * Outgoing AF_VSOCK connections, made with junixsocket's generic socket classes (the project has
 * junixsocket-common only, so the vsock socket type is declared here, as the agent's own
 * listener does in {@code transport.sock}).
 */
final class VsockClient {
  private VsockClient() {}

  /** Connects to {@code port} on context id {@code cid}; the result is a plain blocking socket. */
  static Socket connect(int cid, int port, String address) throws IOException {
    if (!supported()) {
      throw new IOException("cannot connect to " + address + ": AF_VSOCK is not available on"
          + " this machine (no kernel support, or junixsocket's native library did not load)");
    }
    ClientSocket s = ClientSocket.create();
    try {
      s.connect(AFVSOCKSocketAddress.ofPortAndCID(port, cid));
      return s;
    } catch (IOException e) {
      s.close();
      throw AgentConnection.failure(address, e);
    }
  }

  static boolean supported() {
    try {
      return AFSocket.isSupported() && AFSocket.supports(AFSocketCapability.CAPABILITY_VSOCK);
    } catch (LinkageError | RuntimeException e) {
      return false;
    }
  }

  private static final class ClientSocket extends AFSocket<AFVSOCKSocketAddress> {
    ClientSocket(FileDescriptor fd, AFSocketFactory<AFVSOCKSocketAddress> factory)
        throws SocketException {
      super(new Impl(fd), factory);
    }

    static ClientSocket create() throws SocketException {
      return (ClientSocket) AFSocket.newInstance(ClientSocket::new, null);
    }

    /** junixsocket wants a channel per socket; this one is never used with a selector. */
    @Override
    protected AFSocketChannel<AFVSOCKSocketAddress> newChannel() {
      return new Channel(this);
    }
  }

  private static final class Channel extends AFSocketChannel<AFVSOCKSocketAddress> {
    Channel(ClientSocket socket) {
      super(socket, null);
    }
  }

  /** Ties junixsocket's native socket code to AF_VSOCK; options vsock lacks are ignored. */
  private static final class Impl extends AFSocketImpl<AFVSOCKSocketAddress> {
    Impl(FileDescriptor fd) {
      super(AFVSOCKSocketAddress.addressFamily(), fd);
    }

    @Override
    public void setOption(int optID, Object value) throws SocketException {
      setOptionLenient(optID, value);
    }

    @Override
    public Object getOption(int optID) throws SocketException {
      return getOptionLenient(optID);
    }
  }
}
