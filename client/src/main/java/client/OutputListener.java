package client;

/**
 * Receives a streamed run's output as it arrives, on the client's reading thread and in order.
 * A slow listener slows the reading of further frames, and so, in the end, the process.
 */
@FunctionalInterface
public interface OutputListener {
  enum Stream { STDOUT, STDERR }

  void output(Stream stream, byte[] data);
}
