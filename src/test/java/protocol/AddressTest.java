package protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class AddressTest {

  @Test
  void everyFormParses() {
    assertEquals(new Address(Transport.TCP, "127.0.0.1", 52000, 0, null),
        Address.connect("tcp://127.0.0.1:52000"));
    assertEquals(new Address(Transport.TCP, "::1", 8, 0, null), Address.connect("tcp://[::1]:8"));
    assertEquals(new Address(Transport.UNIX, null, 0, 0, Path.of("/run/a.sock")),
        Address.connect("unix:/run/a.sock"));
    assertEquals(Path.of("/run/a.sock"), Address.listen("unix:///run/a.sock").path());
    assertEquals(new Address(Transport.VSOCK, null, 52000, Address.VMADDR_CID_ANY, null),
        Address.listen("vsock://any:52000"));
    assertEquals(2, Address.connect("vsock://host:1").cid());
    assertEquals(1, Address.connect("vsock://local:1").cid());
    assertEquals(42, Address.connect("vsock://42:1").cid());
    assertEquals(new Address(Transport.FC, null, Address.DEFAULT_PORT, 0, Path.of("/v.sock")),
        Address.connect("fc:/v.sock"));
    assertEquals(new Address(Transport.FC, null, 1024, 0, Path.of("/v.sock")),
        Address.connect("fc:/v.sock:1024"));
  }

  @Test
  void vsockPortsHave32BitsTcpPorts16() {
    assertEquals(-1, Address.connect("vsock://3:4294967295").port());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Address.connect("tcp://h:65536"));
    assertEquals("bad port '65536' in tcp://h:65536", e.getMessage());
    assertEquals(0, Address.listen("tcp://127.0.0.1:0").port());
  }

  @Test
  void toStringWritesWhatParses() {
    for (String a : new String[] {"tcp://127.0.0.1:52000", "tcp://[::1]:8", "unix:/run/a.sock",
        "vsock://any:52000", "vsock://3:4294967295", "fc:/v.sock:1024"}) {
      assertEquals(a, Address.connect(a).toString());
      assertEquals(Address.connect(a), Address.connect(Address.connect(a).toString()));
    }
  }

  @Test
  void malformedAddressesSayWhatIsWrong() {
    assertMessage("unix: needs a path, as in unix:/run/agent.sock", "unix:");
    assertMessage("tcp:// needs HOST:PORT, as in tcp://127.0.0.1:52000", "tcp://52000");
    assertMessage("bad port 'x' in tcp://h:x", "tcp://h:x");
    assertMessage("vsock:// needs CID:PORT, as in vsock://any:52000", "vsock://52000");
    assertMessage("bad vsock CID 'me' in vsock://me:1", "vsock://me:1");
    assertMessage("fc: needs the path of Firecracker's vsock socket", "fc:");
  }

  @Test
  void anUnknownFormIsNamedDifferentlyForListeningAndConnecting() {
    IllegalArgumentException listen = assertThrows(IllegalArgumentException.class,
        () -> Address.listen("fc:/v.sock"));
    assertEquals("unknown listen address 'fc:/v.sock': use vsock://any:PORT, tcp://HOST:PORT"
        + " or unix:/path", listen.getMessage());
    IllegalArgumentException connect = assertThrows(IllegalArgumentException.class,
        () -> Address.connect("http://x"));
    assertEquals("unsupported address http://x (use tcp://HOST:PORT, unix:PATH, vsock://CID:PORT"
        + " or fc:PATH[:PORT])", connect.getMessage());
  }

  @Test
  void hostPortServesTheMetricsKey() {
    assertEquals(Address.tcp("0.0.0.0", 9100), Address.hostPort("0.0.0.0:9100", "x"));
    assertEquals(Address.tcp("::", 9100), Address.hostPort("[::]:9100", "x"));
  }

  @Test
  void onlyTcpToThisMachineIsLoopback() {
    assertTrue(Address.listen("tcp://127.0.0.1:1").isLoopback());
    assertTrue(Address.listen("tcp://[::1]:1").isLoopback());
    assertFalse(Address.listen("tcp://0.0.0.0:1").isLoopback());
    assertFalse(Address.listen("unix:/a").isLoopback());
  }

  private static void assertMessage(String message, String uri) {
    assertEquals(message,
        assertThrows(IllegalArgumentException.class, () -> Address.connect(uri)).getMessage());
  }
}
