package client;

import java.util.List;

/** One shell session as {@code list_sessions} reports it; exitCode is null while it runs. */
public record SessionSummary(String sessionId, List<String> command, boolean running,
    Integer exitCode) {}
