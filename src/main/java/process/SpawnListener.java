package process;

/**
 * Told of every process the agent starts, runs and terminals alike, right after the spawn and
 * before anything else is done with it: the one place to put a new child somewhere (a cgroup of
 * its own, say). Called on the spawning thread; must be quick and must not throw.
 */
public interface SpawnListener {
  void spawned(long pid, String tag);
}
