import java.io.DataInputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

/** Floor for the benchmark: a bare JVM that answers one framed ping from a plain ServerSocket. */
public class BarePing {
  public static void main(String[] args) throws Exception {
    try (ServerSocket ss = new ServerSocket(Integer.parseInt(args[0]), 8,
        InetAddress.getLoopbackAddress()); Socket s = ss.accept()) {
      DataInputStream in = new DataInputStream(s.getInputStream());
      byte[] h = new byte[4];
      in.readFully(h);
      int n = (h[0] & 0xff) | (h[1] & 0xff) << 8 | (h[2] & 0xff) << 16 | (h[3] & 0xff) << 24;
      in.readFully(new byte[n]);
      byte[] body = "{\"id\":\"1\",\"exit_code\":0}".getBytes("UTF-8");
      OutputStream out = s.getOutputStream();
      out.write(new byte[] {(byte) body.length, 0, 0, 0});
      out.write(body);
      out.flush();
    }
  }
}
