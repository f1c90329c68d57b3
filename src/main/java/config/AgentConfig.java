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
    // Budgets over all connections and runs (config/MemoryPlan adds them up).
    long writeQueueBudgetBytes,
    long requestBudgetBytes,
    long runStreamBudgetBytes) {

  public static final String DEFAULT_LISTEN = "vsock://any:52000";

  public static AgentConfig defaults() {
    return new AgentConfig(List.of(DEFAULT_LISTEN), null, 1024, 64, 256, 64, 1024 * 1024,
        4L * 1024 * 1024, 64L * 1024 * 1024, 600_000, 500, 64L * 1024 * 1024, null, "text", "info",
        1024, 64L * 1024 * 1024, 30_000, 30_000, true, 4096, 64L * 1024 * 1024,
        32L * 1024 * 1024, 32L * 1024 * 1024);
  }
}
