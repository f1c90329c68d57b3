package verticles;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import protocol.Frames;
import protocol.Response;
import state.AgentState;

/** What the agent says of itself in answer to {@code info}. */
final class AgentInfo {
  private AgentInfo() {}

  /** The answer to {@code info}: version, protocol, capabilities, limits and uptime. */
  static Response answer(AgentState state, String requestId) {
    var c = state.config();
    Map<String, Object> limits = new LinkedHashMap<>();
    limits.put("max_frame_bytes", Frames.MAX_FRAME);
    limits.put("max_connections", c.maxConnections());
    limits.put("max_requests_per_connection", c.maxRequestsPerConnection());
    limits.put("max_runs", c.maxRuns());
    limits.put("max_sessions", c.maxSessions());
    limits.put("shell_backlog_bytes", c.shellBacklogBytes());
    limits.put("run_max_output_bytes", c.runMaxOutputBytes());
    limits.put("run_output_budget_bytes", c.runOutputBudgetBytes());
    limits.put("session_idle_timeout_ms", c.sessionIdleTimeoutMs());
    limits.put("frame_budget_bytes", c.frameBudgetBytes());
    limits.put("frame_timeout_ms", c.frameTimeoutMs());
    limits.put("write_queue_max_bytes", c.writeQueueMaxBytes());
    limits.put("write_stall_timeout_ms", c.writeStallTimeoutMs());
    limits.put("write_queue_budget_bytes", c.writeQueueBudgetBytes());
    limits.put("request_budget_bytes", c.requestBudgetBytes());
    limits.put("run_stream_budget_bytes", c.runStreamBudgetBytes());
    Map<String, Object> info = new LinkedHashMap<>();
    info.put("version", AgentState.VERSION);
    info.put("protocol", AgentState.PROTOCOL);
    info.put("capabilities", CAPABILITIES);
    info.put("limits", limits);
    info.put("uptime_ms", state.uptimeMs());
    return Response.info(requestId, info);
  }

  /** One name per addition of protocol.md part 2 that this agent serves. */
  static final List<String> CAPABILITIES = List.of("concurrent_requests", "shell_events",
      "shell_attach", "list_sessions", "shell_cwd", "run_timeout", "run_stdin",
      "run_max_output_bytes", "run_output_base64", "run_stream", "read_file_chunks",
      "write_file_append", "write_file_mode", "remove_recursive", "stat", "list_dir", "rename",
      "info", "auth_token", "run_kill_leftovers");
}
