package process;

/**
 * Told of every process the agent starts, runs and terminals alike, right after the spawn and
 * before anything else is done with it: the one place to put a new child somewhere (a cgroup of
 * its own, say). Called on the spawning thread; must be quick and must not throw.
 */
public interface SpawnListener {
  void spawned(long pid, String tag);

  /**
   * Whether the process about to be started for {@code tag} is to be placed before it runs
   * anything (see {@link Gate}); then {@link #placeEarly} is called between its fork and its exec.
   */
  default boolean placesEarly(String tag) {
    return false;
  }

  /**
   * The process for {@code tag} exists as {@code pid} but has not exec'd yet: returns whether it
   * was placed. {@link #spawned} is still called after the spawn.
   */
  default boolean placeEarly(long pid, String tag) {
    return false;
  }
}
