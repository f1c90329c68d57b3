package state;

import config.AgentConfig;

/** What every part of the agent shares: the configuration, the clock and the live counters. */
public final class AgentState {
  public static final String VERSION = "0.1.0";
  /** The reference protocol's version, which every addition extends. */
  public static final String PROTOCOL = "agentkernel-0.18.1+ext1";

  private final AgentConfig config;
  private final long startNanos = System.nanoTime();
  public final Slots connections;
  public final Slots runs;
  public final Slots sessions;
  /**
   * Answers on their way to hosts, over all connections (write_queue_budget_bytes): from the
   * moment a handler reads what a large answer carries until the answer is written.
   */
  public final protocol.FrameDecoder.Budget answers;
  private volatile Metrics metrics = Metrics.NONE;
  private volatile boolean stopping;
  private final java.util.Set<Runnable> stopHooks =
      java.util.concurrent.ConcurrentHashMap.newKeySet();

  public AgentState(AgentConfig config) {
    this.config = config;
    this.connections = new Slots(config.maxConnections());
    this.runs = new Slots(config.maxRuns());
    this.sessions = new Slots(config.maxSessions());
    this.answers = new protocol.FrameDecoder.Budget(config.writeQueueBudgetBytes());
  }

  public AgentConfig config() {
    return config;
  }

  /** The agent is shutting down: its verticles are going away. */
  public boolean stopping() {
    return stopping;
  }

  public void stopping(boolean s) {
    this.stopping = s;
    if (s) {
      for (Runnable hook : stopHooks) {
        hook.run();
      }
    }
  }

  /**
   * Runs {@code hook} (on the thread that stops the agent) when the agent begins to stop, or at
   * once if it has; running what this returns takes the hook back.
   */
  public Runnable whenStopping(Runnable hook) {
    stopHooks.add(hook);
    if (stopping && stopHooks.remove(hook)) {
      hook.run();
    }
    return () -> stopHooks.remove(hook);
  }

  public Metrics metrics() {
    return metrics;
  }

  public void metrics(Metrics m) {
    this.metrics = m;
  }

  public long uptimeMs() {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }
}
