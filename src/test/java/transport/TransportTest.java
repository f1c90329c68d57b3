package transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;
import support.Poll;

/**
 * Unix connections are served on the event loops: they cost descriptors and a little memory, not
 * threads, and a burst of connects is accepted whole. (vsock connections are the same channel
 * class on the same loops, so what holds here for Unix holds for them.)
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class TransportTest {
  /** A folder for each agent a test starts, for its socket. */
  @TempDir
  Path tmp;

  AgentProcess agent(Map<String, String> env) throws Exception {
    Path dir = Files.createTempDirectory(tmp, "transport");
    return AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0", "--listen",
        "unix:" + dir.resolve("agent.sock")), env).awaitReady();
  }

  static int threads(long pid) throws IOException {
    try (var s = Files.list(Path.of("/proc/" + pid + "/task"))) {
      return (int) s.count();
    }
  }

  static int fds(long pid) throws IOException {
    try (var s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
      return (int) s.count();
    }
  }

  static JsonObject ping(String id) {
    return new JsonObject().put("id", id).put("type", "ping");
  }

  static UnixDomainSocketAddress unixPath(AgentProcess a) {
    return UnixDomainSocketAddress.of(a.unix().substring("unix:".length()));
  }

  static byte[] pingFrame(String id) {
    byte[] body = ping(id).encode().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    byte[] f = new byte[4 + body.length];
    f[0] = (byte) body.length;
    System.arraycopy(body, 0, f, 4, body.length);
    return f;
  }

  /** Reads one whole frame from a blocking channel. */
  static JsonObject readFrame(SocketChannel ch) throws IOException {
    ByteBuffer h = ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    while (h.hasRemaining()) {
      if (ch.read(h) < 0) {
        throw new java.io.EOFException("closed");
      }
    }
    ByteBuffer b = ByteBuffer.allocate(h.flip().getInt());
    while (b.hasRemaining()) {
      if (ch.read(b) < 0) {
        throw new java.io.EOFException("closed mid-frame");
      }
    }
    return new JsonObject(new String(b.array(), java.nio.charset.StandardCharsets.UTF_8));
  }

  @Test
  void aThousandIdleUnixConnectionsAddNoThreadsAndAnotherIsStillAnswered() throws Exception {
    List<SocketChannel> idle = new ArrayList<>();
    try (AgentProcess a = agent(Map.of("AGENT_MAX_CONNECTIONS", "2000"))) {
      try (AgentConnection warm = AgentConnection.open(a.unix())) {
        assertEquals(0, warm.call(ping("warm")).getInteger("exit_code"));
      }
      int before = threads(a.pid());
      for (int i = 0; i < 1000; i++) {
        idle.add(SocketChannel.open(unixPath(a)));
      }
      // Every one of them is accepted and registered: each answers a ping, and stays open.
      for (int i = 0; i < 1000; i += 100) {
        idle.get(i).write(ByteBuffer.wrap(pingFrame("i" + i)));
        assertEquals("i" + i, readFrame(idle.get(i)).getString("id"));
      }
      try (AgentConnection other = AgentConnection.open(a.unix())) {
        assertEquals(0, other.call(ping("other")).getInteger("exit_code"));
      }
      int after = threads(a.pid());
      assertTrue(after <= before + 8, "threads " + before + " -> " + after
          + " for 1,000 idle Unix connections");
    } finally {
      for (SocketChannel c : idle) {
        c.close();
      }
    }
  }

  @Test
  void aBurstOf400NonBlockingConnectsIsAcceptedWhole() throws Exception {
    List<SocketChannel> burst = new ArrayList<>();
    try (AgentProcess a = agent(Map.of())) {
      UnixDomainSocketAddress where = unixPath(a);
      int refused = 0;
      for (int i = 0; i < 400; i++) {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.configureBlocking(false);
        try {
          ch.connect(where);
          burst.add(ch);
        } catch (IOException e) {
          // EAGAIN: the listen queue was full.
          refused++;
          ch.close();
        }
      }
      assertEquals(0, refused, "connects refused out of 400");
      for (int i = 0; i < burst.size(); i++) {
        SocketChannel ch = burst.get(i);
        ch.finishConnect();
        ch.configureBlocking(true);
        ch.write(ByteBuffer.wrap(pingFrame("b" + i)));
      }
      for (int i = 0; i < burst.size(); i++) {
        JsonObject r = readFrame(burst.get(i));
        assertEquals("b" + i, r.getString("id"));
        assertEquals(0, r.getInteger("exit_code"));
      }
    } finally {
      for (SocketChannel c : burst) {
        c.close();
      }
    }
  }

  @Test
  void theListenBacklogIsConfigurable() throws Exception {
    try (AgentProcess a = agent(Map.of("AGENT_LISTEN_BACKLOG", "77"))) {
      Path sock = Path.of(a.unix().substring("unix:".length()));
      // ss shows a listening socket's backlog as its Send-Q.
      Process ss = new ProcessBuilder("ss", "-x", "-l", "src", sock.toString())
          .redirectErrorStream(true).start();
      String out = new String(ss.getInputStream().readAllBytes());
      ss.waitFor();
      assertTrue(out.lines().anyMatch(l -> l.contains(sock.toString())
          && l.trim().split("\\s+")[3].equals("77")), out);
    }
  }
}
