package client;

import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A blocking connection to an agent, as a host holds one: send a request object, read frames.
 *
 * <p>Addresses:
 * <ul>
 *   <li>{@code tcp://HOST:PORT}
 *   <li>{@code unix:PATH}, a Unix domain socket
 *   <li>{@code vsock://CID:PORT}, AF_VSOCK (from the host to a VM's context id; {@code host} and
 *       {@code local} may stand for CIDs 2 and 1)
 *   <li>{@code fc:PATH[:PORT]}, Firecracker's hybrid vsock: the Unix socket that Firecracker
 *       serves for the VM; the client asks it for guest port PORT (default 52000) with a
 *       {@code CONNECT} line, and after its {@code OK} line frames flow as on any transport.
 * </ul>
 *
 * <p>Sending is thread-safe; {@link #receive()} is meant for one reading thread. Reading and
 * writing may happen at the same time from different threads.
 */
public final class AgentConnection implements AutoCloseable {
  /** The largest frame body either side may send: the wire module's, shared with the agent. */
  public static final int MAX_FRAME = protocol.Frames.MAX_FRAME;
  /** The agent's port when none is given for {@code fc:}. */
  public static final int DEFAULT_PORT = 52000;

  private final Closeable resource;
  private final InputStream in;
  private final OutputStream out;

  private AgentConnection(Closeable resource, InputStream in, OutputStream out) {
    this.resource = resource;
    this.in = in;
    this.out = out;
  }

  /** Connects to an address in one of the forms listed on the class. */
  public static AgentConnection open(String address) throws IOException {
    if (address.startsWith("unix:")) {
      String path = address.substring("unix:".length());
      if (path.isEmpty()) {
        throw new IllegalArgumentException("unix: needs a socket path, e.g. unix:/run/agent.sock");
      }
      return overChannel(connectUnix(path, address));
    }
    if (address.startsWith("tcp://")) {
      String rest = address.substring("tcp://".length());
      int colon = rest.lastIndexOf(':');
      if (colon <= 0) {
        throw new IllegalArgumentException("tcp address needs HOST:PORT: " + address);
      }
      String host = rest.substring(0, colon);
      if (host.startsWith("[") && host.endsWith("]")) {
        host = host.substring(1, host.length() - 1);
      }
      int port = port(rest.substring(colon + 1), address);
      Socket s = new Socket();
      try {
        s.connect(new InetSocketAddress(host, port));
        s.setTcpNoDelay(true);
        return new AgentConnection(s, s.getInputStream(), s.getOutputStream());
      } catch (IOException e) {
        s.close();
        throw failure(address, e);
      }
    }
    if (address.startsWith("vsock://")) {
      String rest = address.substring("vsock://".length());
      int colon = rest.lastIndexOf(':');
      if (colon <= 0) {
        throw new IllegalArgumentException("vsock address needs CID:PORT: " + address);
      }
      int cid = cid(rest.substring(0, colon), address);
      int port = port(rest.substring(colon + 1), address);
      Socket s;
      try {
        s = transport.sock.Sockets.connectVsock(cid, port);
      } catch (IOException e) {
        throw failure(address, e);
      }
      return new AgentConnection(s, s.getInputStream(), s.getOutputStream());
    }
    if (address.startsWith("fc:")) {
      String rest = address.substring("fc:".length());
      int port = DEFAULT_PORT;
      int colon = rest.lastIndexOf(':');
      if (colon > 0 && rest.substring(colon + 1).chars().allMatch(Character::isDigit)
          && colon < rest.length() - 1) {
        port = port(rest.substring(colon + 1), address);
        rest = rest.substring(0, colon);
      }
      if (rest.isEmpty()) {
        throw new IllegalArgumentException("fc: needs the path of Firecracker's vsock socket");
      }
      AgentConnection c = overChannel(connectUnix(rest, address));
      try {
        c.hybridHandshake(port, address);
        return c;
      } catch (IOException | RuntimeException e) {
        c.close();
        throw e;
      }
    }
    throw new IllegalArgumentException("unsupported address " + address
        + " (use tcp://HOST:PORT, unix:PATH, vsock://CID:PORT or fc:PATH[:PORT])");
  }

  private static SocketChannel connectUnix(String path, String address) throws IOException {
    SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      ch.connect(UnixDomainSocketAddress.of(Path.of(path)));
      return ch;
    } catch (IOException e) {
      ch.close();
      throw failure(address, e);
    }
  }

  /**
   * Streams straight on the channel's read and write calls, which have separate locks, so a
   * thread blocked reading does not hold up a writer.
   */
  private static AgentConnection overChannel(SocketChannel ch) {
    InputStream in = new InputStream() {
      @Override
      public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xFF;
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
          return 0;
        }
        return ch.read(ByteBuffer.wrap(b, off, len));
      }
    };
    OutputStream out = new OutputStream() {
      @Override
      public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
      }

      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(b, off, len);
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
      }
    };
    return new AgentConnection(ch, in, out);
  }

  /** Asks Firecracker's vsock socket for a guest port: {@code CONNECT p\n}, answer {@code OK n\n}. */
  private void hybridHandshake(int port, String address) throws IOException {
    writeRaw(("CONNECT " + port + "\n").getBytes(StandardCharsets.US_ASCII));
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    while (true) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("cannot connect to " + address + ": the socket closed during the"
            + " CONNECT handshake" + (line.size() > 0 ? " after '" + line + "'" : "")
            + " (is the agent listening on vsock port " + port + "?)");
      }
      if (b == '\n') {
        break;
      }
      if (line.size() >= 256) {
        throw new IOException("cannot connect to " + address + ": no CONNECT answer line");
      }
      line.write(b);
    }
    String answer = line.toString(StandardCharsets.US_ASCII).strip();
    if (!answer.startsWith("OK")) {
      throw new IOException("cannot connect to " + address + ": CONNECT " + port
          + " answered '" + answer + "'");
    }
  }

  private static int port(String text, String address) {
    boolean vsock = !address.startsWith("tcp://");
    try {
      long p = Long.parseLong(text);
      if (p >= 0 && p <= (vsock ? 0xFFFFFFFFL : 0xFFFF)) {
        return (int) p;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException("bad port '" + text + "' in " + address);
  }

  private static int cid(String text, String address) {
    switch (text) {
      case "host":
        return 2;
      case "local":
        return 1;
      default:
        try {
          return Integer.parseUnsignedInt(text);
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("bad context id '" + text + "' in " + address);
        }
    }
  }

  static IOException failure(String address, IOException e) {
    String reason = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    IOException wrapped = new IOException("cannot connect to " + address + ": " + reason);
    wrapped.initCause(e);
    return wrapped;
  }

  /** Sends one request frame. */
  public void send(JsonObject request) throws IOException {
    writeFrame(request.encode().getBytes(StandardCharsets.UTF_8));
  }

  /** Sends a frame with any body, valid JSON or not. */
  public synchronized void writeFrame(byte[] body) throws IOException {
    byte[] frame = new byte[4 + body.length];
    frame[0] = (byte) body.length;
    frame[1] = (byte) (body.length >>> 8);
    frame[2] = (byte) (body.length >>> 16);
    frame[3] = (byte) (body.length >>> 24);
    System.arraycopy(body, 0, frame, 4, body.length);
    writeRaw(frame);
  }

  /** Sends bytes as they are, frames or not. */
  public synchronized void writeRaw(byte[] bytes) throws IOException {
    out.write(bytes);
    out.flush();
  }

  /** Reads the next frame; throws {@link EOFException} when the agent closed the connection. */
  public JsonObject receive() throws IOException {
    byte[] header = in.readNBytes(4);
    if (header.length < 4) {
      throw new EOFException("connection closed");
    }
    int n = (header[0] & 0xFF) | (header[1] & 0xFF) << 8 | (header[2] & 0xFF) << 16
        | (header[3] & 0xFF) << 24;
    if (n < 0 || n > MAX_FRAME) {
      throw new IOException("frame too large: " + Integer.toUnsignedString(n));
    }
    byte[] body = in.readNBytes(n);
    if (body.length < n) {
      throw new EOFException("connection closed mid-frame");
    }
    return new JsonObject(new String(body, StandardCharsets.UTF_8));
  }

  /** Sends a request and reads frames until the one answering it (events in between are lost). */
  public JsonObject call(JsonObject request) throws IOException {
    send(request);
    String id = request.getString("id");
    while (true) {
      JsonObject r = receive();
      if (id.equals(r.getString("id")) && r.getString("stream") == null
          && !"output".equals(r.getString("shell_event"))
          && !("exited".equals(r.getString("shell_event")) && !"shell_close".equals(
              request.getString("type")))) {
        return r;
      }
    }
  }

  /** True when the agent has closed the connection (reads until end of stream). */
  public boolean closedByAgent() throws IOException {
    return in.read() < 0;
  }

  @Override
  public void close() throws IOException {
    resource.close();
  }
}
