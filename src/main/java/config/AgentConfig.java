package config;

import java.util.List;

/**
 * The agent's whole configuration, one typed value. Built by {@link ConfigLoader} from defaults,
 * then a JSON file, then {@code AGENT_*} environment variables, then command-line flags.
 */
public record AgentConfig(
    List<String> listen,
    String authToken,
    int maxConnections,
    int maxRequestsPerConnection,
    int maxRuns,
    int maxSessions,
    int shellBacklogBytes,
    long runMaxOutputBytes,
    long runOutputBudgetBytes,
    long sessionIdleTimeoutMs,
    long killGraceMs,
    long writeQueueMaxBytes,
    String metrics,
    String logFormat,
    String logLevel,
    int listenBacklog,
    long frameBudgetBytes,
    long frameTimeoutMs,
    long writeStallTimeoutMs,
    // Containment of runs and sessions (process/Containment).
    boolean cgroups,
    long pidsMax,
    // SCHED_RR priority of the agent's own threads; 0 for normal scheduling.
    int realtimePriority,
    // Budgets over all connections and runs (config/MemoryPlan adds them up).
    long writeQueueBudgetBytes,
    long requestBudgetBytes,
    long runStreamBudgetBytes) {

  public static final String DEFAULT_LISTEN = "vsock://any:52000";

  public static AgentConfig defaults() {
    return new AgentConfig(List.of(DEFAULT_LISTEN), null, 1024, 64, 256, 64, 1024 * 1024,
        4L * 1024 * 1024, 64L * 1024 * 1024, 600_000, 500, 64L * 1024 * 1024, null, "text", "info",
        1024, 64L * 1024 * 1024, 30_000, 30_000, true, 4096, 1, 64L * 1024 * 1024,
        32L * 1024 * 1024, 32L * 1024 * 1024);
  }

  /** This configuration as a builder, to change some values by name. */
  public Builder toBuilder() {
    return new Builder(this);
  }

  /** A configuration built value by value, starting from another one. */
  public static final class Builder {
    private List<String> listen;
    private String authToken;
    private int maxConnections;
    private int maxRequestsPerConnection;
    private int maxRuns;
    private int maxSessions;
    private int shellBacklogBytes;
    private long runMaxOutputBytes;
    private long runOutputBudgetBytes;
    private long sessionIdleTimeoutMs;
    private long killGraceMs;
    private long writeQueueMaxBytes;
    private String metrics;
    private String logFormat;
    private String logLevel;
    private int listenBacklog;
    private long frameBudgetBytes;
    private long frameTimeoutMs;
    private long writeStallTimeoutMs;
    private boolean cgroups;
    private long pidsMax;
    private int realtimePriority;
    private long writeQueueBudgetBytes;
    private long requestBudgetBytes;
    private long runStreamBudgetBytes;

    private Builder(AgentConfig c) {
      this.listen = c.listen;
      this.authToken = c.authToken;
      this.maxConnections = c.maxConnections;
      this.maxRequestsPerConnection = c.maxRequestsPerConnection;
      this.maxRuns = c.maxRuns;
      this.maxSessions = c.maxSessions;
      this.shellBacklogBytes = c.shellBacklogBytes;
      this.runMaxOutputBytes = c.runMaxOutputBytes;
      this.runOutputBudgetBytes = c.runOutputBudgetBytes;
      this.sessionIdleTimeoutMs = c.sessionIdleTimeoutMs;
      this.killGraceMs = c.killGraceMs;
      this.writeQueueMaxBytes = c.writeQueueMaxBytes;
      this.metrics = c.metrics;
      this.logFormat = c.logFormat;
      this.logLevel = c.logLevel;
      this.listenBacklog = c.listenBacklog;
      this.frameBudgetBytes = c.frameBudgetBytes;
      this.frameTimeoutMs = c.frameTimeoutMs;
      this.writeStallTimeoutMs = c.writeStallTimeoutMs;
      this.cgroups = c.cgroups;
      this.pidsMax = c.pidsMax;
      this.realtimePriority = c.realtimePriority;
      this.writeQueueBudgetBytes = c.writeQueueBudgetBytes;
      this.requestBudgetBytes = c.requestBudgetBytes;
      this.runStreamBudgetBytes = c.runStreamBudgetBytes;
    }

    public Builder listen(List<String> v) {
      this.listen = v;
      return this;
    }

    public Builder authToken(String v) {
      this.authToken = v;
      return this;
    }

    public Builder maxConnections(int v) {
      this.maxConnections = v;
      return this;
    }

    public Builder maxRequestsPerConnection(int v) {
      this.maxRequestsPerConnection = v;
      return this;
    }

    public Builder maxRuns(int v) {
      this.maxRuns = v;
      return this;
    }

    public Builder maxSessions(int v) {
      this.maxSessions = v;
      return this;
    }

    public Builder shellBacklogBytes(int v) {
      this.shellBacklogBytes = v;
      return this;
    }

    public Builder runMaxOutputBytes(long v) {
      this.runMaxOutputBytes = v;
      return this;
    }

    public Builder runOutputBudgetBytes(long v) {
      this.runOutputBudgetBytes = v;
      return this;
    }

    public Builder sessionIdleTimeoutMs(long v) {
      this.sessionIdleTimeoutMs = v;
      return this;
    }

    public Builder killGraceMs(long v) {
      this.killGraceMs = v;
      return this;
    }

    public Builder writeQueueMaxBytes(long v) {
      this.writeQueueMaxBytes = v;
      return this;
    }

    public Builder metrics(String v) {
      this.metrics = v;
      return this;
    }

    public Builder logFormat(String v) {
      this.logFormat = v;
      return this;
    }

    public Builder logLevel(String v) {
      this.logLevel = v;
      return this;
    }

    public Builder listenBacklog(int v) {
      this.listenBacklog = v;
      return this;
    }

    public Builder frameBudgetBytes(long v) {
      this.frameBudgetBytes = v;
      return this;
    }

    public Builder frameTimeoutMs(long v) {
      this.frameTimeoutMs = v;
      return this;
    }

    public Builder writeStallTimeoutMs(long v) {
      this.writeStallTimeoutMs = v;
      return this;
    }

    public Builder cgroups(boolean v) {
      this.cgroups = v;
      return this;
    }

    public Builder pidsMax(long v) {
      this.pidsMax = v;
      return this;
    }

    public Builder realtimePriority(int v) {
      this.realtimePriority = v;
      return this;
    }

    public Builder writeQueueBudgetBytes(long v) {
      this.writeQueueBudgetBytes = v;
      return this;
    }

    public Builder requestBudgetBytes(long v) {
      this.requestBudgetBytes = v;
      return this;
    }

    public Builder runStreamBudgetBytes(long v) {
      this.runStreamBudgetBytes = v;
      return this;
    }

    public AgentConfig build() {
      return new AgentConfig(listen, authToken, maxConnections, maxRequestsPerConnection,
          maxRuns, maxSessions, shellBacklogBytes, runMaxOutputBytes, runOutputBudgetBytes,
          sessionIdleTimeoutMs, killGraceMs, writeQueueMaxBytes, metrics, logFormat, logLevel,
          listenBacklog,
          frameBudgetBytes, frameTimeoutMs, writeStallTimeoutMs, cgroups, pidsMax,
          realtimePriority, writeQueueBudgetBytes, requestBudgetBytes, runStreamBudgetBytes);
    }
  }
}
