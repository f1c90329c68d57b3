package process;

import sys.ElasticPool;

/**
 * The spawning threads: a few, and a few more only while all of those are stuck.
 *
 * <p>A spawn holds its thread until the child has exec'd, and an exec (or the look at a working
 * directory) on a file system that hangs never ends until the run is killed. With a fixed pool,
 * as many such runs as threads would stop every other run of every host, so the pool grows by up
 * to {@link #EXTRA} threads while every thread has been in one spawn for {@link #STUCK_MS} or more
 * (logged as {@code spawn_stuck}). With all of those stuck too, runs wait for one to come back:
 * their timeout, their connection's close and shutdown still end them.
 */
final class SpawnPool {
  /** The spawning threads' name. */
  static final String NAME = "process-spawn";
  /** How long one spawn may hold its thread before the thread counts as stuck. */
  static final long STUCK_MS = 500;
  /** Threads started beyond the core ones, at most, while those are stuck. */
  static final int EXTRA = 8;
  /** How long an extra thread stays without work ({@code -Dagent.spawn.idle_seconds}). */
  static final long IDLE_SECONDS = Long.getLong("agent.spawn.idle_seconds", 30);

  private SpawnPool() {}

  static ElasticPool create(int threads) {
    // An extra thread that goes takes its gate with it.
    return ElasticPool.create(new ElasticPool.Shape(NAME, "spawn", threads, EXTRA,
        STUCK_MS, IDLE_SECONDS), NativeSpawn::threadEnds, null);
  }
}
