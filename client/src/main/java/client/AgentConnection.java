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
import protocol.Address;
import protocol.Frames;

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
    Address a = Address.connect(address);
    switch (a.transport()) {
      case UNIX:
        return overChannel(connectUnix(a.path(), address));
      case TCP: {
        Socket s = new Socket();
        try {
          s.connect(new InetSocketAddress(a.host(), a.port()));
          s.setTcpNoDelay(true);
          return new AgentConnection(s, s.getInputStream(), s.getOutputStream());
        } catch (IOException e) {
          s.close();
          throw failure(address, e);
        }
      }
      case VSOCK: {
        Socket s;
        try {
          s = transport.sock.Sockets.connectVsock(a.cid(), a.port());
        } catch (IOException e) {
          throw failure(address, e);
        }
        return new AgentConnection(s, s.getInputStream(), s.getOutputStream());
      }
      default: {
        AgentConnection c = overChannel(connectUnix(a.path(), address));
        try {
          c.hybridHandshake(a.port(), address);
          return c;
        } catch (IOException | RuntimeException e) {
          c.close();
          throw e;
        }
      }
    }
  }

  private static SocketChannel connectUnix(Path path, String address) throws IOException {
    SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      ch.connect(UnixDomainSocketAddress.of(path));
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
    byte[] frame = new byte[Frames.HEADER + body.length];
    Frames.writeLength(frame, 0, body.length);
    System.arraycopy(body, 0, frame, Frames.HEADER, body.length);
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
    if (n < 0 || n > Frames.MAX_FRAME) {
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

  /** Says the host will send nothing more, and keeps reading what the agent answers. */
  public void shutdownOutput() throws IOException {
    if (resource instanceof SocketChannel ch) {
      ch.shutdownOutput();
    } else {
      ((Socket) resource).shutdownOutput();
    }
  }

  @Override
  public void close() throws IOException {
    resource.close();
  }
}
