package cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import support.SharedAgent;

/**
 * The {@code fc:} transport against a stand-in for Firecracker's vsock socket: a Unix socket that
 * expects {@code CONNECT <port>\n}, answers {@code OK <n>\n} for the agent's port and then
 * relays bytes to the agent's own Unix socket, as Firecracker relays them into the VM. For any
 * other port it closes the connection, as Firecracker does when nothing listens there.
 */
class FirecrackerHybridVsockTest {
  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();
  static ServerSocketChannel server;
  static Path socket;
  static final List<String> handshakes = new CopyOnWriteArrayList<>();

  @TempDir
  static Path dir;

  @BeforeAll
  static void start() throws Exception {
    socket = dir.resolve("firecracker.vsock");
    server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(socket));
    daemon(() -> {
      while (true) {
        SocketChannel host;
        try {
          host = server.accept();
        } catch (IOException e) {
          return;
        }
        daemon(() -> serve(host));
      }
    });
  }

  @AfterAll
  static void stop() throws Exception {
    server.close();
  }

  private static void serve(SocketChannel host) {
    try (host) {
      String line = readLine(host);
      handshakes.add(line);
      if (!line.equals("CONNECT 52000")) {
        return;
      }
      Path agentSocket = Path.of(agent.unix().substring("unix:".length()));
      try (SocketChannel guest = SocketChannel.open(UnixDomainSocketAddress.of(agentSocket))) {
        host.write(ByteBuffer.wrap("OK 1073741824\n".getBytes(StandardCharsets.US_ASCII)));
        Thread up = daemon(() -> relay(host, guest));
        relay(guest, host);
        up.join();
      }
    } catch (IOException | InterruptedException e) {
      // The test sees the outcome through agentctl.
    }
  }

  private static String readLine(SocketChannel ch) throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    ByteBuffer one = ByteBuffer.allocate(1);
    while (true) {
      one.clear();
      if (ch.read(one) < 0) {
        break;
      }
      if (one.get(0) == '\n') {
        break;
      }
      line.write(one.get(0));
    }
    return line.toString(StandardCharsets.US_ASCII);
  }

  private static void relay(SocketChannel from, SocketChannel to) {
    ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
    try {
      while (from.read(buf) >= 0) {
        buf.flip();
        while (buf.hasRemaining()) {
          to.write(buf);
        }
        buf.clear();
      }
      to.shutdownOutput();
    } catch (IOException e) {
      // One side went away; the other direction ends too.
    }
  }

  private static Thread daemon(Runnable r) {
    Thread t = new Thread(r, "firecracker-double");
    t.setDaemon(true);
    t.start();
    return t;
  }

  @Test
  void pingAndRunThroughTheHybridSocket() throws Exception {
    handshakes.clear();
    String address = "fc:" + socket;
    Ctl.Result ping = Ctl.run(address, null, "ping");
    assertEquals(0, ping.exit(), ping::toString);
    Ctl.Result run = Ctl.run(address, null, "run", "--", "sh", "-c", "echo via-fc; exit 4");
    assertEquals(4, run.exit(), run::toString);
    assertEquals("via-fc\n", run.out());
    assertEquals(List.of("CONNECT 52000", "CONNECT 52000"), handshakes);
  }

  @Test
  void aPortNobodyListensOnFailsClearly() throws Exception {
    handshakes.clear();
    Ctl.Result r = Ctl.run("fc:" + socket + ":1234", null, "ping");
    assertEquals(1, r.exit(), r::toString);
    assertEquals(List.of("CONNECT 1234"), handshakes);
    assertTrue(r.err().startsWith("agentctl: cannot connect to fc:" + socket + ":1234: "
        + "the socket closed during the CONNECT handshake"), r::toString);
  }
}
