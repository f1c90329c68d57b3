package process;

/**
 * Where one output stream of a process goes. The process engine asks for {@link #room} before it
 * reads, so a full sink (a slow host) leaves the bytes in the pipe or terminal and the process
 * blocks on its write, while the engine waits on other descriptors. Nothing here may block.
 */
public interface OutputSink {
  /** Told when a sink that had no room has room again. Callable from any thread. */
  interface Waker {
    void wake();

    /** Wakes after {@code ms} milliseconds (pacing), or earlier through {@link #wake()}. */
    void wakeAfter(long ms);
  }

  /**
   * How many bytes the sink takes now. When 0, the sink keeps {@code waker} and calls it once
   * room appears; the engine reads nothing from this stream until then.
   */
  long room(Waker waker);

  /** Takes bytes (no more than {@link #room} said). Returns false to stop: the rest is dropped. */
  boolean write(byte[] b, int off, int len);

  /** The stream ended. */
  void finish();
}
