package transport.sock;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.net.BindException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.newsclub.net.unix.AFVSOCKSocketAddress;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SocketsTest {

  private static final int ACCEPT_TIMEOUT_MS = 200;

  @TempDir Path tmp;

  // ---------------------------------------------------------------- AF_UNIX

  @Test
  void unixRoundTripWithRealClient() throws Exception {
    Path path = tmp.resolve("agent.sock");
    try (ServerSocket server = Sockets.bindUnix(path, 8)) {
      assertTrue(server.isBound());
      assertTrue(Files.exists(path), "socket file should exist after bind");
      server.setSoTimeout(5_000);

      try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(path));
          Socket accepted = server.accept()) {
        accepted.setSoTimeout(5_000);

        byte[] request = "hello from client".getBytes(StandardCharsets.UTF_8);
        client.write(ByteBuffer.wrap(request));
        assertArrayEquals(request, readExactly(accepted.getInputStream(), request.length));

        byte[] reply = "hello from server \u00e9".getBytes(StandardCharsets.UTF_8);
        accepted.getOutputStream().write(reply);
        accepted.getOutputStream().flush();
        assertArrayEquals(reply, readExactly(client, reply.length));

        // The server side sees end-of-stream once the client goes away.
        client.close();
        assertEquals(-1, accepted.getInputStream().read());
      }
    }
    assertFalse(Files.exists(path), "socket file should be removed on close");
  }

  @Test
  void unixAcceptTimesOut() throws Exception {
    try (ServerSocket server = Sockets.bindUnix(tmp.resolve("timeout.sock"), 8)) {
      assertAcceptTimesOut(server);
      // The server is still usable after a timeout.
      assertAcceptTimesOut(server);
    }
  }

  @Test
  void unixSecondBindOnLivePathFails() throws Exception {
    Path path = tmp.resolve("live.sock");
    try (ServerSocket first = Sockets.bindUnix(path, 8)) {
      IOException e = assertThrows(IOException.class, () -> Sockets.bindUnix(path, 8));
      assertTrue(e.getMessage().contains(path.toString()), e.getMessage());

      // The first server is untouched: it still owns the path and accepts connections.
      // (The failed bind probed it once, so drain that probe connection first.)
      first.setSoTimeout(5_000);
      try (Socket probe = first.accept()) {
        assertNotNull(probe);
      }
      try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(path));
          Socket accepted = first.accept()) {
        client.write(ByteBuffer.wrap(new byte[] {42}));
        accepted.setSoTimeout(5_000);
        assertEquals(42, accepted.getInputStream().read());
      }
    }
  }

  @Test
  void unixStaleSocketFileIsReplaced() throws Exception {
    Path path = tmp.resolve("stale.sock");
    // A JDK server socket leaves its file behind when closed: that is our stale file.
    try (ServerSocketChannel old = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
      old.bind(UnixDomainSocketAddress.of(path));
    }
    assertTrue(Files.exists(path));

    try (ServerSocket server = Sockets.bindUnix(path, 8)) {
      server.setSoTimeout(5_000);
      try (SocketChannel client = SocketChannel.open(UnixDomainSocketAddress.of(path));
          Socket accepted = server.accept()) {
        accepted.getOutputStream().write(7);
        assertArrayEquals(new byte[] {7}, readExactly(client, 1));
      }
    }
  }

  @Test
  void unixRefusesToReplaceNonSocketFile() throws Exception {
    Path path = tmp.resolve("not-a-socket");
    Files.writeString(path, "keep me");

    assertThrows(IOException.class, () -> Sockets.bindUnix(path, 8));
    assertEquals("keep me", Files.readString(path));
  }

  // ---------------------------------------------------------------- AF_VSOCK

  @Test
  void vsockIsSupportedHere() {
    assertTrue(Sockets.vsockSupported(), "this machine has /dev/vsock; support expected");
  }

  @Test
  void vsockBindAcceptTimeoutDoubleBindAndRebind() throws Exception {
    ServerSocket server = bindFreeVsockPort();
    int port = vsockPortOf(server);
    try {
      assertTrue(server.isBound());
      assertFalse(server.isClosed());

      // No peer can connect here, so accept must give up after the timeout.
      assertAcceptTimesOut(server);

      // A second bind of the same port fails with a clear message, and does not leak an fd
      // however often it is tried.
      long fdsBefore = openFdCount();
      for (int i = 0; i < 20; i++) {
        IOException e =
            assertThrows(
                IOException.class,
                () -> Sockets.bindVsock(Sockets.VSOCK_CID_ANY, port, 8));
        assertInstanceOf(BindException.class, e);
        assertTrue(e.getMessage().contains("port " + port), e.getMessage());
        assertTrue(e.getMessage().contains("Address already in use"), e.getMessage());
      }
      long fdsAfter = openFdCount();
      assertTrue(
          fdsAfter < fdsBefore + 5,
          "failed binds leaked file descriptors: " + fdsBefore + " -> " + fdsAfter);

      // The original server is unaffected by the failed attempts.
      assertAcceptTimesOut(server);
    } finally {
      server.close();
    }
    assertTrue(server.isClosed());

    // Once closed, the port is free again (also via the raw -1 / 0xFFFFFFFF cid value).
    try (ServerSocket again = Sockets.bindVsock(0xFFFFFFFF, port, 8)) {
      assertEquals(port, vsockPortOf(again));
      assertAcceptTimesOut(again);
    }
  }

  // ---------------------------------------------------------------- helpers

  /** Binds AF_VSOCK on any cid, trying random ports until one is free. */
  private static ServerSocket bindFreeVsockPort() throws IOException {
    IOException last = null;
    for (int attempt = 0; attempt < 50; attempt++) {
      int port = ThreadLocalRandom.current().nextInt(20_000, 60_000);
      try {
        return Sockets.bindVsock(Sockets.VSOCK_CID_ANY, port, 8);
      } catch (BindException e) {
        last = e;
      }
    }
    throw new IOException("no free vsock port found", last);
  }

  private static int vsockPortOf(ServerSocket server) {
    // getLocalPort() is not meaningful for vsock in junixsocket; read it from the address.
    return ((AFVSOCKSocketAddress) server.getLocalSocketAddress()).getVSOCKPort();
  }

  private static void assertAcceptTimesOut(ServerSocket server) throws IOException {
    server.setSoTimeout(ACCEPT_TIMEOUT_MS);
    long start = System.nanoTime();
    try (Socket unexpected = server.accept()) {
      fail("accept returned a connection: " + unexpected);
    } catch (SocketTimeoutException expected) {
      long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
      assertTrue(elapsedMs >= ACCEPT_TIMEOUT_MS / 2, "timed out too early: " + elapsedMs + "ms");
      assertTrue(elapsedMs < 10_000, "timed out too late: " + elapsedMs + "ms");
    }
  }

  private static long openFdCount() throws IOException {
    try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
      return fds.count();
    }
  }

  private static byte[] readExactly(InputStream in, int n) throws IOException {
    byte[] buf = in.readNBytes(n);
    assertEquals(n, buf.length, "stream ended early");
    return buf;
  }

  private static byte[] readExactly(SocketChannel ch, int n) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(n);
    while (buf.hasRemaining()) {
      if (ch.read(buf) < 0) {
        fail("channel ended early after " + buf.position() + " bytes");
      }
    }
    return buf.array();
  }
}
