package process;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import sys.LibC;

/**
 * Finds and signals, through /proc, every process that belongs to a started process: its
 * descendants, every process still in the session it leads (even one whose parent already
 * exited), and every descendant of the agent that carries its tag. This is the way where cgroup
 * v2 is not available (see {@link Containment}), and the sweep for what a process forked before
 * it was moved into its cgroup.
 *
 * <p>Work is done in batches: one pass over /proc serves every tree of the batch, so that killing
 * the 200 runs of a closing connection reads /proc a few times, not a few times per run.
 */
public final class ProcessTree {
  /** Bound on the searches for new members while freezing a batch (each adds a generation). */
  private static final int MAX_FREEZE_ROUNDS = 64;

  /**
   * Every process the agent starts carries this variable with a value of its own, and so do its
   * descendants unless they clear their environment. A process that left the tree (a double fork
   * or setsid, then its parent exited) is found by it: with the agent as child subreaper it is
   * still the agent's descendant.
   */
  public static final String TAG_VARIABLE = "AGENT_RUN_ID";

  private static final byte[] TAG_PREFIX =
      (TAG_VARIABLE + "=").getBytes(StandardCharsets.US_ASCII);

  /** Passes over /proc made so far, for the log and the tests that count them. */
  static final AtomicLong SCANS = new AtomicLong();

  private ProcessTree() {}

  /**
   * One tree: {@code root} (or -1) with its descendants and the session it leads, and the agent's
   * descendants whose environment carries {@code tag} (or null).
   */
  public record Target(long root, String tag) {}

  /** A fresh tag value. */
  public static String newTag() {
    return Long.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextLong())
        + Long.toHexString(System.nanoTime());
  }

  /**
   * Kills every member of every target with SIGKILL. Members are first stopped with SIGSTOP, and
   * the batch is searched again until no new member appears: a stopped process can neither fork
   * nor exit, so a process that forks in a loop cannot leave a child behind, and no child is
   * orphaned (and so lost from its tree) while the search goes on. Blocking; returns how many
   * processes were killed.
   */
  public static int kill(Collection<Target> targets) {
    if (targets.isEmpty()) {
      return 0;
    }
    Batch b = new Batch(targets);
    for (int round = 0; round < MAX_FREEZE_ROUNDS; round++) {
      if (!b.search(LibC.SIGSTOP)) {
        break;
      }
    }
    for (long pid : b.members) {
      LibC.signal(pid, LibC.SIGKILL);
    }
    return b.members.size();
  }

  /**
   * Sends {@code signal} to every member of every target: one pass over /proc, more only while a
   * process's environment could not be told (it was in the middle of an exec), bounded.
   */
  public static int signal(Collection<Target> targets, int signal) {
    if (targets.isEmpty()) {
      return 0;
    }
    Batch b = new Batch(targets);
    for (int round = 0; round < MAX_FREEZE_ROUNDS; round++) {
      b.search(signal);
      if (!b.unsure) {
        break;
      }
    }
    return b.members.size();
  }

  private static final int UNTAGGED = 0;
  private static final int TAGGED = 1;
  private static final int UNKNOWN = 2;

  /** The state of one batch across its passes over /proc. */
  private static final class Batch {
    final Set<Long> roots = new HashSet<>();
    final Set<String> tags = new HashSet<>();
    /** Members found so far, each signalled once. */
    final Set<Long> members = new LinkedHashSet<>();
    /** Descendants of the agent whose environment was read already. */
    final Set<Long> envRead = new HashSet<>();
    /** The last pass met a process whose environment could not be told: search again. */
    boolean unsure;
    final long self = ProcessHandle.current().pid();

    Batch(Collection<Target> targets) {
      for (Target t : targets) {
        if (t.root() > 0) {
          roots.add(t.root());
        }
        if (t.tag() != null) {
          tags.add(t.tag());
        }
      }
    }

    /**
     * One pass: signals every member not signalled yet. Returns whether there was one, or a
     * process whose environment could not be told yet (then another pass must follow).
     */
    boolean search(int signal) {
      unsure = false;
      Map<Long, List<Long>> children = new HashMap<>();
      List<Long> start = new ArrayList<>();
      readTable(children, roots, start);
      Deque<Long> todo = new ArrayDeque<>(start);
      todo.addAll(members);
      if (!tags.isEmpty()) {
        // The agent's descendants that carry one of the batch's tags.
        Deque<Long> below = new ArrayDeque<>(children.getOrDefault(self, List.of()));
        Set<Long> seen = new HashSet<>();
        while (!below.isEmpty()) {
          long pid = below.pop();
          if (!seen.add(pid)) {
            continue;
          }
          if (!members.contains(pid) && envRead.add(pid)) {
            int t = tagged(pid);
            if (t == TAGGED) {
              todo.add(pid);
            } else if (t == UNKNOWN) {
              // Read again in the next pass, once its exec is over.
              envRead.remove(pid);
              unsure = true;
            }
          }
          below.addAll(children.getOrDefault(pid, List.of()));
        }
      }
      boolean fresh = false;
      Set<Long> visited = new HashSet<>();
      while (!todo.isEmpty()) {
        long pid = todo.pop();
        if (pid == self || !visited.add(pid)) {
          continue;
        }
        if (members.add(pid)) {
          LibC.signal(pid, signal);
          fresh = true;
        }
        todo.addAll(children.getOrDefault(pid, List.of()));
      }
      return fresh || unsure;
    }

    /**
     * Whether {@code pid}'s environment carries one of the batch's tags: {@link #TAGGED},
     * {@link #UNTAGGED} (or gone), or {@link #UNKNOWN}. In the middle of an exec the kernel shows
     * an empty environment (the old memory is gone, the new one not yet laid out); an empty
     * command line at the same moment says so, and the process is read again later.
     */
    private static int tagged(long pid, Set<String> tags) {
      Path proc = Path.of("/proc", Long.toString(pid));
      byte[] env = read(proc.resolve("environ"));
      if (env != null && env.length == 0) {
        byte[] cmd = read(proc.resolve("cmdline"));
        if (cmd == null) {
          return UNTAGGED;
        }
        if (cmd.length == 0) {
          return UNKNOWN;
        }
        // The exec may have ended between the two reads: the environment is read once more.
        env = read(proc.resolve("environ"));
      }
      if (env == null) {
        return UNTAGGED;
      }
      return carries(env, tags) ? TAGGED : UNTAGGED;
    }

    private int tagged(long pid) {
      return tagged(pid, tags);
    }

    /** The file's bytes, or null if the process is gone. */
    private static byte[] read(Path p) {
      try {
        return Files.readAllBytes(p);
      } catch (IOException | RuntimeException e) {
        return null;
      }
    }

    private static boolean carries(byte[] env, Set<String> tags) {
      int start = 0;
      for (int i = 0; i <= env.length; i++) {
        if (i == env.length || env[i] == 0) {
          int len = i - start;
          if (len > TAG_PREFIX.length && java.util.Arrays.equals(env, start,
              start + TAG_PREFIX.length, TAG_PREFIX, 0, TAG_PREFIX.length)) {
            String value = new String(env, start + TAG_PREFIX.length, len - TAG_PREFIX.length,
                StandardCharsets.US_ASCII);
            return tags.contains(value);
          }
          start = i + 1;
        }
      }
      return false;
    }
  }

  /**
   * One pass over /proc: each process's children by parent pid, and into {@code start} every live
   * root and every member of a session a root leads. Leaves both empty where /proc is absent.
   */
  private static void readTable(Map<Long, List<Long>> children, Set<Long> roots,
      List<Long> start) {
    SCANS.incrementAndGet();
    ProcStat.scan(p -> {
      if (p.zombie()) {
        // Nothing left to signal; its parent reaps it.
        return;
      }
      children.computeIfAbsent(p.ppid(), k -> new ArrayList<>()).add(p.pid());
      if (roots.contains(p.pid()) || roots.contains(p.session())) {
        start.add(p.pid());
      }
    });
  }

  /** SIGKILL to every descendant of the agent: the last step of a shutdown. */
  public static void killAllDescendants() {
    // First, so that it is not started again once killed.
    Sentinel.end();
    List<ProcessHandle> all = ProcessHandle.current().descendants().toList();
    for (ProcessHandle p : all) {
      LibC.signal(p.pid(), LibC.SIGSTOP);
    }
    for (ProcessHandle p : all) {
      p.destroyForcibly();
    }
  }

  /** Stops, then kills, every tagged descendant of the agent. */
  public static void killTagged(String tag) {
    kill(List.of(new Target(-1, tag)));
  }

  /** Sends {@code signal} to every tagged descendant. */
  public static void signalTagged(String tag, int signal) {
    signal(List.of(new Target(-1, tag)), signal);
  }

  /** Kills {@code root}, its descendants and the session it leads. */
  public static void kill(ProcessHandle root) {
    kill(List.of(new Target(root.pid(), null)));
  }

  /** Sends SIGTERM to {@code root}, its descendants and the session it leads. */
  public static void terminate(ProcessHandle root) {
    signal(List.of(new Target(root.pid(), null)), LibC.SIGTERM);
  }

  /** SIGKILL to every process of the session {@code sid}, leader alive or not. */
  public static void killSession(long sid) {
    kill(List.of(new Target(sid, null)));
  }

  /** Sends {@code signal} to every process of the session {@code sid}. */
  public static void signalSession(long sid, int signal) {
    signal(List.of(new Target(sid, null)), signal);
  }
}
