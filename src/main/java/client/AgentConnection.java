package client;

import io.vertx.core.json.JsonObject;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A blocking connection to an agent, as a host holds one: send a request object, read frames.
 * Addresses are {@code tcp://HOST:PORT} or {@code unix:PATH}.
 */
public final class AgentConnection implements AutoCloseable {
  private final SocketChannel channel;
  private final InputStream in;
  private final OutputStream out;

  private AgentConnection(SocketChannel channel) {
    this.channel = channel;
    this.in = Channels.newInputStream(channel);
    this.out = Channels.newOutputStream(channel);
  }

  public static AgentConnection open(String address) throws IOException {
    if (address.startsWith("unix:")) {
      SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
      ch.connect(UnixDomainSocketAddress.of(Path.of(address.substring("unix:".length()))));
      return new AgentConnection(ch);
    }
    if (address.startsWith("tcp://")) {
      String rest = address.substring("tcp://".length());
      int colon = rest.lastIndexOf(':');
      SocketChannel ch = SocketChannel.open(new InetSocketAddress(rest.substring(0, colon),
          Integer.parseInt(rest.substring(colon + 1))));
      ch.socket().setTcpNoDelay(true);
      return new AgentConnection(ch);
    }
    throw new IllegalArgumentException("unsupported address " + address);
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
    if (n < 0 || n > 10 * 1024 * 1024) {
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
    channel.close();
  }
}
