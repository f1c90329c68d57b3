package verticles;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;
import transport.sock.Sockets;

/**
 * The agent binds AF_VSOCK (this machine has /dev/vsock; nobody can connect to it from here, but
 * the bind is real), and a second agent on the same port fails at once, saying where.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VsockTest {

  /** A vsock port nobody holds right now. */
  private static int freeVsockPort() throws IOException {
    IOException last = null;
    for (int i = 0; i < 20; i++) {
      int port = ThreadLocalRandom.current().nextInt(20_000, 60_000);
      try (ServerSocket s = Sockets.bindVsock(Sockets.VSOCK_CID_ANY, port, 1)) {
        return port;
      } catch (IOException e) {
        last = e;
      }
    }
    throw last;
  }

  @Test
  void listensOnVsockAndASecondAgentOnThePortFails(@TempDir Path dir) throws Exception {
    int port = freeVsockPort();
    String address = "vsock://any:" + port;
    try (AgentProcess first = AgentProcess.launch(dir, List.of("--listen", address), Map.of())) {
      first.awaitReady();
      assertTrue(first.log().stream().anyMatch(l -> l.contains("listening address=" + address)),
          () -> "log: " + first.log());
      assertTrue(first.addresses().contains(address), () -> "addresses: " + first.addresses());

      try (AgentProcess second = AgentProcess.launch(dir, List.of("--listen", address),
          Map.of())) {
        int code = second.awaitExit(20);
        assertNotEquals(0, code, "second agent on a taken vsock port");
        // The log reader may still be catching up with the last lines.
        ProtocolSupport.eventually(5_000, "a message naming " + address, () ->
            second.log().stream().anyMatch(l -> l.contains("cannot listen on " + address)));
        assertTrue(second.log().stream().noneMatch(l -> l.contains(" ready ")),
            () -> "second agent said ready: " + second.log());
      }
      // The first one is unaffected.
      assertTrue(first.process().isAlive());
    }
  }
}
