package transport.sock;

import java.io.IOException;
import java.net.BindException;
import java.net.ConnectException;
import java.net.ServerSocket;
import java.net.SocketException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;

import org.newsclub.net.unix.AFSocket;
import org.newsclub.net.unix.AFSocketCapability;
import org.newsclub.net.unix.AFUNIXServerSocket;
import org.newsclub.net.unix.AFUNIXSocketAddress;
import org.newsclub.net.unix.AFVSOCKSocketAddress;

/**
 * Blocking sockets for the agent's two local transports: AF_UNIX (a socket file) and AF_VSOCK
 * (the host/guest channel of a microVM). The agent listens; its client library also connects
 * over vsock through here.
 *
 * <p>Both kinds are ordinary {@link ServerSocket}s: {@code accept()} returns a plain
 * {@link java.net.Socket} with blocking streams, and {@link ServerSocket#setSoTimeout(int)} makes
 * {@code accept()} give up with a {@link java.net.SocketTimeoutException}. Closing the server
 * socket from another thread does not reliably wake a thread blocked in {@code accept()}, so
 * callers should accept in a loop with a timeout and check a stop flag between attempts.
 *
 * <p>If binding fails, the half-made socket is closed before the exception is thrown, so no file
 * descriptor is left behind.
 */
public final class Sockets {

  /** Means "any local context id" when given as the cid of {@link #bindVsock}. */
  public static final int VSOCK_CID_ANY = AFVSOCKSocketAddress.VMADDR_CID_ANY;

  /** File-type bits of st_mode, and the value that marks a socket. */
  private static final int S_IFMT = 0170000;
  private static final int S_IFSOCK = 0140000;

  private Sockets() {}

  /**
   * Binds and listens on a unix domain socket file.
   *
   * <p>If a socket file is already at {@code path}, the method first tries to connect to it. If
   * that is refused, the file is a leftover from a process that is gone, and it is removed. If the
   * connection succeeds, someone is still serving there and a {@link BindException} is thrown (the
   * other server sees one connection that closes straight away). Anything at {@code path} that is
   * not a socket is never touched; that also fails with an IOException.
   *
   * <p>The socket file is removed again when the returned server socket is closed.
   *
   * @param path where to create the socket file
   * @param backlog listen queue length; 0 or less means the platform default
   */
  public static ServerSocket bindUnix(Path path, int backlog) throws IOException {
    Objects.requireNonNull(path, "path");
    removeStaleSocketFile(path);

    AFUNIXServerSocket server = AFUNIXServerSocket.newInstance();
    try {
      // We did the "is it stale?" check ourselves, so the bind itself must not replace an
      // existing file. If someone raced us to the path, the bind fails with EADDRINUSE.
      server.setReuseAddress(false);
      server.bind(AFUNIXSocketAddress.of(path), backlog);
      return server;
    } catch (IOException | RuntimeException e) {
      closeAfterFailure(server, e);
      throw bindFailure("unix socket " + path, e);
    }
  }

  /**
   * Binds and listens on an AF_VSOCK port.
   *
   * @param cid the local context id to bind to; {@link #VSOCK_CID_ANY} (-1, i.e. 0xFFFFFFFF)
   *     accepts connections addressed to any of this machine's context ids
   * @param port the vsock port
   * @param backlog listen queue length; 0 or less means the platform default
   * @throws BindException if the port is taken or the address cannot be bound
   * @throws SocketException if this machine or JVM has no AF_VSOCK support
   */
  public static ServerSocket bindVsock(int cid, int port, int backlog) throws IOException {
    if (!vsockSupported()) {
      throw new SocketException(
          "AF_VSOCK is not available (junixsocket native library not loaded or no kernel support)");
    }
    String where = "vsock " + describeVsock(cid, port);
    AFVSOCKSocketAddress address;
    try {
      address = AFVSOCKSocketAddress.ofPortAndCID(port, cid);
    } catch (SocketException e) {
      throw bindFailure(where, e);
    }

    VsockServerSocket server = new VsockServerSocket();
    try {
      server.bind(address, backlog);
      return server;
    } catch (IOException | RuntimeException e) {
      closeAfterFailure(server, e);
      throw bindFailure(where, e);
    }
  }

  /**
   * Connects to {@code port} on context id {@code cid} over AF_VSOCK, as a host does; the result is
   * a plain blocking socket. The agent itself only listens; its client library uses this.
   */
  public static java.net.Socket connectVsock(int cid, int port) throws IOException {
    if (!vsockSupported()) {
      throw new java.net.SocketException("AF_VSOCK is not available on this machine (no kernel"
          + " support, or junixsocket's native library did not load)");
    }
    VsockSocket s = VsockSocket.create();
    try {
      s.connect(AFVSOCKSocketAddress.ofPortAndCID(port, cid));
      return s;
    } catch (IOException | RuntimeException e) {
      s.close();
      throw e;
    }
  }

  /**
   * Whether AF_VSOCK sockets can be used here: the junixsocket native library is loaded and it
   * reports that the kernel supports the vsock address family.
   */
  public static boolean vsockSupported() {
    try {
      return AFSocket.isSupported() && AFSocket.supports(AFSocketCapability.CAPABILITY_VSOCK);
    } catch (LinkageError | RuntimeException e) {
      return false;
    }
  }

  /**
   * Makes {@code path} free for a new Unix socket: a leftover socket file of a server that is gone
   * is removed; a live server there, or a file that is not a socket, fails as {@link #bindUnix}
   * describes.
   */
  public static void removeStaleSocketFile(Path path) throws IOException {
    BasicFileAttributes attrs;
    try {
      attrs = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return;
    }
    if (!isSocketFile(path, attrs)) {
      throw new FileAlreadyExistsException(
          path.toString(), null, "exists and is not a socket; refusing to replace it");
    }
    try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
      throw new BindException("Address already in use: another process is listening on " + path);
    } catch (ConnectException refused) {
      // Nobody accepts connections there any more: the file is a leftover.
      Files.deleteIfExists(path);
    }
  }

  private static boolean isSocketFile(Path path, BasicFileAttributes attrs) throws IOException {
    if (!attrs.isOther()) {
      return false;
    }
    try {
      int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
      return (mode & S_IFMT) == S_IFSOCK;
    } catch (UnsupportedOperationException | IllegalArgumentException e) {
      // No "unix" attribute view: a non-regular, non-directory, non-link file is the best guess.
      return true;
    }
  }

  private static String describeVsock(int cid, int port) {
    String cidText = cid == VSOCK_CID_ANY ? "ANY" : Integer.toUnsignedString(cid);
    return "cid " + cidText + " port " + Integer.toUnsignedString(port);
  }

  /** Turns whatever the bind threw into a BindException that says what we tried to bind. */
  private static IOException bindFailure(String where, Exception cause) {
    String reason = cause.getMessage() != null ? cause.getMessage() : cause.toString();
    BindException e = new BindException("Cannot bind " + where + ": " + reason);
    e.initCause(cause);
    return e;
  }

  private static void closeAfterFailure(ServerSocket server, Exception failure) {
    try {
      server.close();
    } catch (IOException | RuntimeException e) {
      failure.addSuppressed(e);
    }
  }
}
