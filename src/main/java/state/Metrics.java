package state;

import protocol.Transport;

/**
 * What the agent reports about itself. The default does nothing and costs nothing; the
 * Prometheus implementation (package {@code metrics}) is only loaded when metrics are enabled.
 * Labels are request types, outcomes and transports: never ids, paths or commands.
 */
public interface Metrics {
  Metrics NONE = new Metrics() {};

  /** A request of wire type {@code type} was answered: outcome is ok, error or busy. */
  default void request(String type, String outcome, long nanos) {}

  /** A connection on {@code transport} opened (+1) or closed (-1). */
  default void connections(Transport transport, int delta) {}

  default void bytesIn(long n) {}

  default void bytesOut(long n) {}
}
