package transport;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;

/**
 * Where to listen: {@code vsock://any:52000} or {@code vsock://CID:PORT}, {@code tcp://HOST:PORT},
 * or {@code unix:/path}.
 */
public record ListenAddress(String scheme, String host, int port, int cid, Path path) {
  public static final int VMADDR_CID_ANY = -1;

  public static ListenAddress parse(String uri) {
    if (uri.startsWith("unix:")) {
      String p = uri.substring("unix:".length());
      if (p.startsWith("//")) {
        p = p.substring(2);
      }
      if (p.isEmpty()) {
        throw new IllegalArgumentException("unix: needs a path, as in unix:/run/agent.sock");
      }
      return new ListenAddress("unix", null, 0, 0, Path.of(p));
    }
    if (uri.startsWith("tcp://")) {
      String rest = uri.substring("tcp://".length());
      int colon = rest.lastIndexOf(':');
      if (colon <= 0) {
        throw new IllegalArgumentException("tcp:// needs HOST:PORT, as in tcp://127.0.0.1:52000");
      }
      String host = rest.substring(0, colon);
      if (host.startsWith("[") && host.endsWith("]")) {
        host = host.substring(1, host.length() - 1);
      }
      return new ListenAddress("tcp", host, port(rest.substring(colon + 1), uri), 0, null);
    }
    if (uri.startsWith("vsock://")) {
      String rest = uri.substring("vsock://".length());
      int colon = rest.lastIndexOf(':');
      if (colon <= 0) {
        throw new IllegalArgumentException("vsock:// needs CID:PORT, as in vsock://any:52000");
      }
      String c = rest.substring(0, colon);
      int cid;
      if (c.equals("any")) {
        cid = VMADDR_CID_ANY;
      } else {
        try {
          cid = Integer.parseUnsignedInt(c);
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("bad vsock CID '" + c + "' in " + uri);
        }
      }
      return new ListenAddress("vsock", null, port(rest.substring(colon + 1), uri), cid, null);
    }
    throw new IllegalArgumentException("unknown listen address '" + uri
        + "': use vsock://any:PORT, tcp://HOST:PORT or unix:/path");
  }

  private static int port(String s, String uri) {
    try {
      int p = Integer.parseInt(s);
      if (p >= 0 && p <= 65535) {
        return p;
      }
    } catch (NumberFormatException e) {
      // Reported below.
    }
    throw new IllegalArgumentException("bad port '" + s + "' in " + uri);
  }

  /** True for a TCP address that only this machine can reach. */
  public boolean isLoopback() {
    if (!scheme.equals("tcp")) {
      return false;
    }
    try {
      return InetAddress.getByName(host).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  @Override
  public String toString() {
    return switch (scheme) {
      case "unix" -> "unix:" + path;
      case "tcp" -> "tcp://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
      default -> "vsock://" + (cid == VMADDR_CID_ANY ? "any" : Integer.toUnsignedString(cid))
          + ":" + port;
    };
  }
}
