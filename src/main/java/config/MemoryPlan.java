package config;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.ToLongFunction;

/**
 * The worst case of what the agent's limits let it hold in its heap at once, checked against the
 * heap it has ({@code Runtime.maxMemory()}: 192 MiB under {@code bin/agent}).
 *
 * <p>A configuration whose worst case does not fit is scaled down where its values are defaults:
 * the largest term that a default byte budget decides is halved, down to a floor, until everything
 * fits; only when no budget can give more are the counts ({@code max_runs}, {@code max_sessions})
 * halved. If it still cannot fit, because of values set explicitly, the agent refuses to start and
 * says which keys to lower.
 */
public final class MemoryPlan {
  static final long MIB = 1024 * 1024;
  /** The largest frame, request or answer (protocol.Frames.MAX_FRAME). */
  static final long FRAME = 10 * MIB;
  /** The agent's own objects at rest: classes' statics, Vert.x, Netty, per-connection state. */
  static final long AT_REST = 16 * MIB;
  /**
   * Answers being written: one per event loop (two), each up to one frame (10 MiB) held twice
   * while it is built (the output string and the frame).
   */
  static final long ANSWERS_IN_WRITING = 2 * 2 * FRAME;
  /**
   * A request being parsed, on the listener's one event loop: the parser's text buffer (2 bytes a
   * character), the builder it copies into and the string it makes, each the size of the frame
   * (measured: parsing a 10 MiB field allocates 4 times its size). The frame itself is counted
   * under the requests being served.
   */
  static final long REQUEST_IN_PARSING = 4 * FRAME;
  /** What each stream of a streamed run always has of its own (stream.OutputBuffer.RESERVE). */
  static final long STREAM_RESERVE = 8 * 1024;
  /**
   * What a session's backlog may hold past shell_backlog_bytes: one terminal read that an attach
   * overtook (stream.OutputBuffer.DETACHED_READ).
   */
  static final long BACKLOG_PAST_LIMIT = 4 * 1024;
  /** Output a stream has sent and not yet seen acknowledged (stream.StreamPump.WINDOW). */
  static final long STREAM_WINDOW = 256 * 1024;
  /**
   * A request being served holds at most this many bytes per byte that arrived: its strings (2
   * bytes a character where one is beyond Latin-1), or a Latin-1 string and what is decoded from
   * its base64 (3/4 byte a byte).
   */
  static final int REQUEST_FACTOR = 2;
  /**
   * Run output is counted against run_output_budget_bytes until its answer is a frame: first the
   * bytes captured, then the answer built from them (text: up to 2 bytes a byte, as UTF-16).
   */
  static final int RUN_ANSWER_FACTOR = 2;
  /**
   * What a session keeps of its {@code shell} request for its whole life: its id and command, at
   * most 16 KiB of UTF-8 in at most 256 arguments (protocol.Request.Shell.MAX_KEPT_BYTES), so at
   * most 2 x 16 KiB of characters and 257 strings of 56 bytes of their own (46.1 KiB), and the
   * session's own objects. Its environment is dropped once the process has started.
   */
  static final long SESSION_KEPT = 48 * 1024;

  /** One line of the arithmetic. */
  public record Term(String what, String formula, long bytes) {}

  /** A byte budget the plan may halve while it is a default, down to its floor. */
  private record Knob(String key, ToLongFunction<AgentConfig> value, long floor,
      ToLongFunction<AgentConfig> term) {}

  private static final List<Knob> BUDGETS = List.of(
      new Knob("frame_budget_bytes", AgentConfig::frameBudgetBytes, 12 * MIB,
          AgentConfig::frameBudgetBytes),
      new Knob("request_budget_bytes", AgentConfig::requestBudgetBytes, 12 * MIB,
          c -> c.requestBudgetBytes() * REQUEST_FACTOR),
      new Knob("write_queue_budget_bytes", AgentConfig::writeQueueBudgetBytes, 12 * MIB,
          AgentConfig::writeQueueBudgetBytes),
      new Knob("run_output_budget_bytes", AgentConfig::runOutputBudgetBytes, 4 * MIB,
          c -> c.runOutputBudgetBytes() * RUN_ANSWER_FACTOR),
      new Knob("run_stream_budget_bytes", AgentConfig::runStreamBudgetBytes, 2 * MIB,
          c -> c.runStreamBudgetBytes() * 7 / 3),
      new Knob("shell_backlog_bytes", c -> c.shellBacklogBytes(), 64 * 1024,
          c -> backlogs(c) + shellFrames(c)));

  private static final List<Knob> COUNTS = List.of(
      new Knob("max_runs", c -> c.maxRuns(), 16, c -> c.maxRuns() * 2 * STREAM_RESERVE * 7 / 3),
      new Knob("max_sessions", c -> c.maxSessions(), 8,
          c -> backlogs(c) + c.maxSessions() * SESSION_KEPT + shellFrames(c)));

  private MemoryPlan() {}

  /** The terms of the worst case for {@code c}. */
  public static List<Term> terms(AgentConfig c) {
    List<Term> t = new ArrayList<>();
    t.add(new Term("agent at rest", "16 MiB", AT_REST));
    t.add(new Term("answers being written", "2 event loops x 2 copies x 10 MiB",
        ANSWERS_IN_WRITING));
    t.add(new Term("request being parsed", "1 event loop x 4 x 10 MiB", REQUEST_IN_PARSING));
    t.add(new Term("incomplete frames", "frame_budget_bytes", c.frameBudgetBytes()));
    t.add(new Term("requests being served", "request_budget_bytes x 2",
        c.requestBudgetBytes() * REQUEST_FACTOR));
    t.add(new Term("answers to hosts", "write_queue_budget_bytes", c.writeQueueBudgetBytes()));
    t.add(new Term("run output", "run_output_budget_bytes x 2",
        c.runOutputBudgetBytes() * RUN_ANSWER_FACTOR));
    t.add(new Term("streamed runs", "(max_runs (" + c.maxRuns()
        + ") x 2 streams x 8 KiB + run_stream_budget_bytes) x 7/3", streams(c)));
    t.add(new Term("shell backlogs", "max_sessions (" + c.maxSessions()
        + ") x (shell_backlog_bytes (" + c.shellBacklogBytes() + ") + 4 KiB)", backlogs(c)));
    t.add(new Term("shell output in writing", "max_sessions x min(shell_backlog_bytes + 4 KiB,"
        + " 256 KiB) x 4/3", shellFrames(c)));
    t.add(new Term("shell requests kept", "max_sessions x 48 KiB (id and command)",
        c.maxSessions() * SESSION_KEPT));
    return t;
  }

  /**
   * What streamed runs hold: each stream's buffer, and, for what it has sent and not yet seen
   * acknowledged (never more than it holds), the frame in the connection's queue, base64 (4/3).
   */
  static long streams(AgentConfig c) {
    return (c.maxRuns() * 2 * STREAM_RESERVE + c.runStreamBudgetBytes()) * 7 / 3;
  }

  /** What the sessions' backlogs hold, each at most one read past its limit. */
  static long backlogs(AgentConfig c) {
    return c.maxSessions() * (c.shellBacklogBytes() + BACKLOG_PAST_LIMIT);
  }

  /** Frames of session output sent and not yet acknowledged: at most a window, base64. */
  static long shellFrames(AgentConfig c) {
    return c.maxSessions() * Math.min(c.shellBacklogBytes() + BACKLOG_PAST_LIMIT, STREAM_WINDOW)
        * 4 / 3;
  }

  public static long worstCase(AgentConfig c) {
    return terms(c).stream().mapToLong(Term::bytes).sum();
  }

  /** The arithmetic, one term per line, and the total against the heap. */
  public static String describe(AgentConfig c, long heap) {
    StringBuilder b = new StringBuilder();
    for (Term t : terms(c)) {
      b.append(String.format("  %-23s %-72s %6.1f MiB%n", t.what(), t.formula(),
          t.bytes() / (double) MIB));
    }
    b.append(String.format("  %-23s %-72s %6.1f MiB (heap %.1f MiB)", "worst case", "",
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
    Set<String> fixed = new HashSet<>(explicit);
    for (Knob k : knobs()) {
      if (k.value().applyAsLong(c) == k.value().applyAsLong(d)) {
        fixed.remove(k.key());
      }
    }
    AgentConfig fitted = c;
    while (worstCase(fitted) > heap) {
      AgentConfig smaller = halveLargest(fitted, fixed, BUDGETS);
      if (smaller == null) {
        smaller = halveLargest(fitted, fixed, COUNTS);
      }
      if (smaller == null) {
        throw new ConfigException("the limits can hold more than the heap: lower "
            + String.join(", ", knobs().stream().map(Knob::key).toList())
            + ", or give the agent more heap (-Xmx)\n" + describe(fitted, heap));
      }
      fitted = smaller;
    }
    return fitted;
  }

  private static List<Knob> knobs() {
    List<Knob> all = new ArrayList<>(BUDGETS);
    all.addAll(COUNTS);
    return all;
  }

  /** Halves the default behind the largest term among {@code knobs}, or null if none can. */
  private static AgentConfig halveLargest(AgentConfig c, Set<String> fixed, List<Knob> knobs) {
    Knob best = null;
    long most = -1;
    for (Knob k : knobs) {
      long term = k.term().applyAsLong(c);
      if (!fixed.contains(k.key()) && k.value().applyAsLong(c) > k.floor() && term > most) {
        best = k;
        most = term;
      }
    }
    if (best == null) {
      return null;
    }
    return with(c, best.key(), Math.max(best.floor(), best.value().applyAsLong(c) / 2));
  }

  /** {@code c} with the one value behind {@code key} replaced. */
  static AgentConfig with(AgentConfig c, String key, long v) {
    AgentConfig.Builder b = c.toBuilder();
    switch (key) {
      case "max_runs" -> b.maxRuns((int) v);
      case "max_sessions" -> b.maxSessions((int) v);
      case "shell_backlog_bytes" -> b.shellBacklogBytes((int) v);
      case "run_output_budget_bytes" -> b.runOutputBudgetBytes(v);
      case "frame_budget_bytes" -> b.frameBudgetBytes(v);
      case "request_budget_bytes" -> b.requestBudgetBytes(v);
      case "write_queue_budget_bytes" -> b.writeQueueBudgetBytes(v);
      case "run_stream_budget_bytes" -> b.runStreamBudgetBytes(v);
      default -> throw new IllegalArgumentException("not a scalable key: " + key);
    }
    return b.build();
  }
}
