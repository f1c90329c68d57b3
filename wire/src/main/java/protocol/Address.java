package protocol;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;

/**
 * Where an agent listens, or where a host finds it, written as one of:
 * <ul>
 *   <li>{@code tcp://HOST:PORT} (an IPv6 host in brackets);
 *   <li>{@code unix:/path} (or {@code unix:///path}), a Unix domain socket;
 *   <li>{@code vsock://CID:PORT}, AF_VSOCK, where CID may be {@code any} (listening), {@code host}
 *       (2) or {@code local} (1);
 *   <li>{@code fc:/path[:PORT]}, Firecracker's hybrid vsock: the Unix socket Firecracker serves
 *       for the VM, and the guest port to ask it for ({@value #DEFAULT_PORT} by default). Hosts
 *       only.
 * </ul>
 * The agent and its clients parse addresses here alike; only the message for an unknown form
 * differs ({@link #listen} and {@link #connect}).
 *
 * @param host the TCP host, null otherwise
 * @param port the TCP or vsock port, or the guest port for {@code fc:}; 0 for Unix sockets
 * @param cid the vsock context id ({@link #VMADDR_CID_ANY} for any), 0 otherwise
 * @param path the socket's path for {@code unix:} and {@code fc:}, null otherwise
 */
public record Address(Transport transport, String host, int port, int cid, Path path) {
  public static final int VMADDR_CID_ANY = -1;
  /** The agent's usual port, and the guest port {@code fc:} asks for when none is given. */
  public static final int DEFAULT_PORT = 52000;

  /** An address to listen on: any form but {@code fc:}. */
  public static Address listen(String uri) {
    Address a = parse(uri);
    if (a == null || !a.transport.servable()) {
      throw new IllegalArgumentException("unknown listen address '" + uri
          + "': use vsock://any:PORT, tcp://HOST:PORT or unix:/path");
    }
    return a;
  }

  /** An address to connect to: any form. */
  public static Address connect(String uri) {
    Address a = parse(uri);
    if (a == null) {
      throw new IllegalArgumentException("unsupported address " + uri
          + " (use tcp://HOST:PORT, unix:PATH, vsock://CID:PORT or fc:PATH[:PORT])");
    }
    return a;
  }

  /** A TCP address of host and port. */
  public static Address tcp(String host, int port) {
    return new Address(Transport.TCP, host, port, 0, null);
  }

  /** The address, or null for a form not listed on the class; a malformed one throws. */
  private static Address parse(String uri) {
    if (uri.startsWith("unix:")) {
      String p = uri.substring("unix:".length());
      if (p.startsWith("//")) {
        p = p.substring(2);
      }
      if (p.isEmpty()) {
        throw new IllegalArgumentException("unix: needs a path, as in unix:/run/agent.sock");
      }
      return new Address(Transport.UNIX, null, 0, 0, Path.of(p));
    }
    if (uri.startsWith("tcp://")) {
      return hostPort(uri.substring("tcp://".length()), uri);
    }
    if (uri.startsWith("vsock://")) {
      String rest = uri.substring("vsock://".length());
      int colon = rest.lastIndexOf(':');
      if (colon <= 0) {
        throw new IllegalArgumentException("vsock:// needs CID:PORT, as in vsock://any:52000");
      }
      return new Address(Transport.VSOCK, null, vsockPort(rest.substring(colon + 1), uri),
          cid(rest.substring(0, colon), uri), null);
    }
    if (uri.startsWith("fc:")) {
      String rest = uri.substring("fc:".length());
      int port = DEFAULT_PORT;
      int colon = rest.lastIndexOf(':');
      if (colon > 0 && colon < rest.length() - 1
          && rest.substring(colon + 1).chars().allMatch(Character::isDigit)) {
        port = vsockPort(rest.substring(colon + 1), uri);
        rest = rest.substring(0, colon);
      }
      if (rest.isEmpty()) {
        throw new IllegalArgumentException("fc: needs the path of Firecracker's vsock socket");
      }
      return new Address(Transport.FC, null, port, 0, Path.of(rest));
    }
    return null;
  }

  /**
   * {@code HOST:PORT} (an IPv6 host in brackets) as a TCP address, any port from 0 to 65535;
   * {@code uri} is what the message names when it is malformed.
   */
  public static Address hostPort(String text, String uri) {
    int colon = text.lastIndexOf(':');
    if (colon <= 0) {
      throw new IllegalArgumentException("tcp:// needs HOST:PORT, as in tcp://127.0.0.1:52000");
    }
    String host = text.substring(0, colon);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    String p = text.substring(colon + 1);
    try {
      int port = Integer.parseInt(p);
      if (port >= 0 && port <= 65535) {
        return tcp(host, port);
      }
    } catch (NumberFormatException e) {
      // Reported below.
    }
    throw new IllegalArgumentException("bad port '" + p + "' in " + uri);
  }

  /** A vsock port: 32 bits, unsigned. */
  private static int vsockPort(String s, String uri) {
    try {
      return Integer.parseUnsignedInt(s);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("bad port '" + s + "' in " + uri);
    }
  }

  private static int cid(String c, String uri) {
    switch (c) {
      case "any":
        return VMADDR_CID_ANY;
      case "host":
        return 2;
      case "local":
        return 1;
      default:
        try {
          return Integer.parseUnsignedInt(c);
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("bad vsock CID '" + c + "' in " + uri);
        }
    }
  }

  /** True for a TCP address that only this machine can reach. */
  public boolean isLoopback() {
    if (transport != Transport.TCP) {
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
    return switch (transport) {
      case UNIX -> "unix:" + path;
      case TCP -> "tcp://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
      case VSOCK -> "vsock://" + (cid == VMADDR_CID_ANY ? "any" : Integer.toUnsignedString(cid))
          + ":" + Integer.toUnsignedString(port);
      case FC -> "fc:" + path + ":" + Integer.toUnsignedString(port);
    };
  }
}
