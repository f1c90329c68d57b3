package process;

/** Where one output stream of a process goes. Called from that stream's reader thread. */
public interface OutputSink {
  /** Takes bytes; may block for flow control. Returns false to stop reading. */
  boolean write(byte[] b, int off, int len) throws InterruptedException;

  /** The stream ended. */
  void finish();
}
