package client;

/**
 * How a run ended. {@code stdout} and {@code stderr} hold the raw output when it was collected,
 * and are empty when it was streamed to an {@link OutputListener}.
 */
public record RunResult(int exitCode, boolean timedOut, byte[] stdout, byte[] stderr,
    boolean stdoutTruncated, boolean stderrTruncated) {}
