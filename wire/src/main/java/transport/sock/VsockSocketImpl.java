package transport.sock;

import java.io.FileDescriptor;
import java.net.SocketException;

import org.newsclub.net.unix.AFSocketImpl;
import org.newsclub.net.unix.AFVSOCKSocketAddress;

/**
 * The native socket implementation behind both our vsock server socket and the connections it
 * accepts. All the real work happens in junixsocket; this class only ties that work to the
 * AF_VSOCK address family.
 *
 * <p>Option handling is lenient: options that make no sense for vsock (for example TCP_NODELAY,
 * which generic stream code likes to set) are ignored instead of failing the caller.
 */
final class VsockSocketImpl extends AFSocketImpl<AFVSOCKSocketAddress> {

  VsockSocketImpl(FileDescriptor fd) {
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
