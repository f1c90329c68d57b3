package config;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The worst case of what the agent's limits let it hold in its heap at once, checked against the
 * heap it has ({@code Runtime.maxMemory()}: 192 MiB under {@code bin/agent}).
 *
 * <p>A configuration whose worst case does not fit is scaled down where its values are defaults:
 * the largest term that a default decides is halved, down to a floor, until everything fits. If
 * it still cannot fit, because of values set explicitly, the agent refuses to start and says
 * which key to lower.
 */
public final class MemoryPlan {
  static final long MIB = 1024 * 1024;
  /** The agent's own objects at rest: classes' statics, Vert.x, Netty, per-connection state. */
  static final long AT_REST = 16 * MIB;
  /**
   * Answers being written: one per event loop (two), each up to one frame (10 MiB) held twice
   * while it is built (the output string and the frame).
   */
  static final long ANSWERS_IN_WRITING = 2 * 2 * 10 * MIB;
  /** Each streamed run buffers up to this much of each of its two streams. */
  static final long STREAM_BUFFER = 256 * 1024;
  /** A session takes input of this much at once, waiting for the terminal, and refuses more. */
  static final long SESSION_INPUT = MIB;

  /** One line of the arithmetic. */
  public record Term(String what, String formula, long bytes) {}

  private MemoryPlan() {}

  /** The terms of the worst case for {@code c}. */
  public static List<Term> terms(AgentConfig c) {
    List<Term> t = new ArrayList<>();
    t.add(new Term("agent at rest", "16 MiB", AT_REST));
    t.add(new Term("answers being written", "2 event loops x 2 copies x 10 MiB",
        ANSWERS_IN_WRITING));
    t.add(new Term("run output", "run_output_budget_bytes", c.runOutputBudgetBytes()));
    t.add(new Term("streamed runs", "max_runs (" + c.maxRuns() + ") x 2 streams x 256 KiB",
        c.maxRuns() * 2 * STREAM_BUFFER));
    t.add(new Term("shell backlogs", "max_sessions (" + c.maxSessions()
        + ") x shell_backlog_bytes (" + c.shellBacklogBytes() + ")",
        (long) c.maxSessions() * c.shellBacklogBytes()));
    t.add(new Term("shell input waiting", "max_sessions (" + c.maxSessions() + ") x 1 MiB",
        c.maxSessions() * SESSION_INPUT));
    return t;
  }

  public static long worstCase(AgentConfig c) {
    return terms(c).stream().mapToLong(Term::bytes).sum();
  }

  /** The arithmetic, one term per line, and the total against the heap. */
  public static String describe(AgentConfig c, long heap) {
    StringBuilder b = new StringBuilder();
    for (Term t : terms(c)) {
      b.append(String.format("  %-22s %-55s %6.1f MiB%n", t.what(), t.formula(),
          t.bytes() / (double) MIB));
    }
    b.append(String.format("  %-22s %-55s %6.1f MiB (heap %.1f MiB)", "worst case", "",
        worstCase(c) / (double) MIB, heap / (double) MIB));
    return b.toString();
  }

  /**
   * {@code c} itself if its worst case fits {@code heap}; else {@code c} with the defaults among
   * its values scaled down until it fits.
   *
   * @param explicit the keys set by the file, the environment or the command line: never changed,
   *     unless set to their default value
   * @throws ConfigException if even the smallest defaults cannot make it fit
   */
  public static AgentConfig fit(AgentConfig c, Set<String> explicit, long heap)
      throws ConfigException {
    // A key set to its default value (conf/agent.json spells the defaults out) is a default.
    AgentConfig d = AgentConfig.defaults();
    Set<String> fixed = new java.util.HashSet<>(explicit);
    if (c.runOutputBudgetBytes() == d.runOutputBudgetBytes()) {
      fixed.remove("run_output_budget_bytes");
    }
    if (c.maxRuns() == d.maxRuns()) {
      fixed.remove("max_runs");
    }
    if (c.shellBacklogBytes() == d.shellBacklogBytes()) {
      fixed.remove("shell_backlog_bytes");
    }
    if (c.maxSessions() == d.maxSessions()) {
      fixed.remove("max_sessions");
    }
    return fitFixed(c, fixed, heap);
  }

  private static AgentConfig fitFixed(AgentConfig c, Set<String> explicit, long heap)
      throws ConfigException {
    AgentConfig fitted = c;
    while (worstCase(fitted) > heap) {
      AgentConfig smaller = halveLargest(fitted, explicit);
      if (smaller == null) {
        throw new ConfigException("the limits can hold more than the heap: lower "
            + "run_output_budget_bytes, max_runs, max_sessions or shell_backlog_bytes, or give "
            + "the agent more heap (-Xmx)\n" + describe(fitted, heap));
      }
      fitted = smaller;
    }
    return fitted;
  }

  /** Halves the default behind the largest term that a default decides, or null if none can. */
  private static AgentConfig halveLargest(AgentConfig c, Set<String> explicit) {
    long runOutput = c.runOutputBudgetBytes();
    long streams = c.maxRuns() * 2 * STREAM_BUFFER;
    long backlogs = (long) c.maxSessions() * c.shellBacklogBytes();
    long input = c.maxSessions() * SESSION_INPUT;
    boolean canRunOutput = !explicit.contains("run_output_budget_bytes") && runOutput > 8 * MIB;
    boolean canRuns = !explicit.contains("max_runs") && c.maxRuns() > 16;
    boolean canBacklog = !explicit.contains("shell_backlog_bytes")
        && c.shellBacklogBytes() > 64 * 1024;
    boolean canSessions = !explicit.contains("max_sessions") && c.maxSessions() > 8;
    long best = -1;
    int which = -1;
    long[] sizes = {runOutput, streams, backlogs, Math.max(backlogs, input)};
    boolean[] can = {canRunOutput, canRuns, canBacklog, canSessions};
    for (int i = 0; i < sizes.length; i++) {
      if (can[i] && sizes[i] > best) {
        best = sizes[i];
        which = i;
      }
    }
    return switch (which) {
      case 0 -> with(c, c.maxRuns(), c.maxSessions(), c.shellBacklogBytes(), runOutput / 2);
      case 1 -> with(c, c.maxRuns() / 2, c.maxSessions(), c.shellBacklogBytes(), runOutput);
      case 2 -> with(c, c.maxRuns(), c.maxSessions(), c.shellBacklogBytes() / 2, runOutput);
      case 3 -> with(c, c.maxRuns(), c.maxSessions() / 2, c.shellBacklogBytes(), runOutput);
      default -> null;
    };
  }

  private static AgentConfig with(AgentConfig c, int maxRuns, int maxSessions, int backlog,
      long runOutputBudget) {
    return new AgentConfig(c.listen(), c.authToken(), c.maxConnections(),
        c.maxRequestsPerConnection(), maxRuns, maxSessions, backlog, c.runMaxOutputBytes(),
        runOutputBudget, c.sessionIdleTimeoutMs(), c.killGraceMs(), c.writeQueueMaxBytes(),
        c.metrics(), c.logFormat(), c.logLevel(), c.listenBacklog(), c.frameBudgetBytes(),
        c.frameTimeoutMs(), c.writeStallTimeoutMs(), c.cgroups(), c.pidsMax());
  }
}
