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

  /**
   * For a process about to be started for {@code tag} that moves itself into its place before
   * it execs (see {@link ExecHelper}): descriptors of the {@code cgroup.procs} files it writes
   * itself to, which the caller closes; null if this listener places nothing for {@code tag}.
   */
  default int[] cellFiles(String tag) {
    return null;
  }

  /**
   * For such a process: a descriptor of the cgroup v2 directory it can be started in at once
   * ({@code CLONE_INTO_CGROUP}), which the caller closes; -1 if this listener gives none.
   */
  default int cellDirectory(String tag) {
    return -1;
  }

  /**
   * The process for {@code tag}, started as {@code pid}, moved itself into the files
   * {@link #cellFiles} gave before its exec: returns whether this listener took it.
   * {@link #spawned} is still called after the spawn.
   */
  default boolean placedItself(long pid, String tag) {
    return false;
  }
}
