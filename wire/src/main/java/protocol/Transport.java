package protocol;

/** How a host reaches the agent. {@link #toString()} is the name logs and metric labels use. */
public enum Transport {
  TCP("tcp"),
  UNIX("unix"),
  VSOCK("vsock"),
  /**
   * Firecracker's hybrid vsock: a host connects to the Unix socket Firecracker serves for the VM
   * and asks it for a guest port. The agent itself never listens on it.
   */
  FC("fc");

  private final String label;

  Transport(String label) {
    this.label = label;
  }

  /** Whether the agent can listen on it. */
  public boolean servable() {
    return this != FC;
  }

  @Override
  public String toString() {
    return label;
  }
}
