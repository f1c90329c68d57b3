package transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.LinuxSocket;
import io.netty.channel.epoll.VSockAddress;
import io.netty.channel.unix.Socket;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.Test;

/**
 * The AF_VSOCK listening socket, for real (this machine has /dev/vsock; nobody can connect to it
 * from here, so the byte path of accepted connections is tested over Unix, through the same
 * channel class). What is checked here is the address handling of the descriptors that channel
 * works with.
 */
class VsockChannelTest {

  private static int bindSomePort() throws IOException {
    IOException last = null;
    for (int i = 0; i < 20; i++) {
      int port = ThreadLocalRandom.current().nextInt(20_000, 60_000);
      try {
        return Acceptor.bindVsock(VSockAddress.VMADDR_CID_ANY, port, 1024);
      } catch (IOException e) {
        last = e;
      }
    }
    throw last;
  }

  private static long openDescriptors() throws IOException {
    try (var s = Files.list(Path.of("/proc/self/fd"))) {
      return s.count();
    }
  }

  @Test
  void theNativeTransportIsAvailableHere() {
    assertTrue(Epoll.isAvailable(), () -> "epoll: " + Epoll.unavailabilityCause());
  }

  @Test
  void aBoundVsockDescriptorReportsItsVsockAddressAndNoPeer() throws Exception {
    int fd = bindSomePort();
    LinuxSocket s = LinuxSocket.newSocket(fd);
    try {
      VSockAddress local = s.localVSockAddress();
      assertEquals(VSockAddress.VMADDR_CID_ANY, local.getCid());
      assertTrue(local.getPort() >= 20_000 && local.getPort() < 60_000, local::toString);
      assertNull(s.remoteVSockAddress(), "a listening socket has no peer");
      // What an accepted channel's constructor reads: the domain-socket readers do not fail on
      // an AF_VSOCK descriptor; they give a path that means nothing, so the agent never uses it.
      Socket asUnix = new Socket(fd);
      asUnix.localDomainSocketAddress();
      assertNull(asUnix.remoteDomainSocketAddress());
      assertTrue(Files.exists(Path.of("/proc/self/fd/" + fd)));
    } finally {
      s.close();
    }
    assertFalse(Files.exists(Path.of("/proc/self/fd/" + fd)), "the descriptor is closed");
  }

  @Test
  void aTakenVsockPortFailsToBindAndLeavesNoDescriptor() throws Exception {
    int fd = bindSomePort();
    int port = LinuxSocket.newSocket(fd).localVSockAddress().getPort();
    try {
      long open = openDescriptors();
      IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
          () -> Acceptor.bindVsock(VSockAddress.VMADDR_CID_ANY, port, 16));
      assertTrue(String.valueOf(e.getMessage()).toLowerCase().contains("in use"), e::toString);
      assertEquals(open, openDescriptors());
    } finally {
      LinuxSocket.newSocket(fd).close();
    }
  }
}
