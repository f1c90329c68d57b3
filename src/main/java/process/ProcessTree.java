package process;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Finds and signals every process that belongs to one started process: its descendants, and when
 * it leads a session (as a shell on a terminal does), every process still in that session, even
 * one whose parent already exited.
 */
public final class ProcessTree {
  /** Bound on the searches for new members while freezing a tree (each adds a generation). */
  private static final int MAX_FREEZE_ROUNDS = 64;

  /**
   * Every process the agent starts carries this variable with a value of its own, and so do its
   * descendants unless they clear their environment. A process that left the tree (a double fork
   * or setsid, then its parent exited) is found by it: with the agent as child subreaper it is
   * still the agent's descendant.
   */
  public static final String TAG_VARIABLE = "AGENT_RUN_ID";

  private ProcessTree() {}

  /** A fresh tag value. */
  public static String newTag() {
    return Long.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextLong())
        + Long.toHexString(System.nanoTime());
  }

  /** The agent's descendants whose environment carries {@code tag}. Reads /proc. */
  static List<ProcessHandle> tagged(String tag) {
    byte[] needle = (TAG_VARIABLE + "=" + tag).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    List<ProcessHandle> out = new ArrayList<>();
    ProcessHandle.current().descendants().forEach(p -> {
      try {
        byte[] env = Files.readAllBytes(Path.of("/proc", Long.toString(p.pid()), "environ"));
        if (containsEntry(env, needle)) {
          out.add(p);
        }
      } catch (IOException | RuntimeException e) {
        // Gone already.
      }
    });
    return out;
  }

  /** Whether the NUL-separated {@code env} holds exactly the entry {@code needle}. */
  static boolean containsEntry(byte[] env, byte[] needle) {
    int start = 0;
    for (int i = 0; i <= env.length; i++) {
      if (i == env.length || env[i] == 0) {
        if (i - start == needle.length
            && java.util.Arrays.equals(env, start, i, needle, 0, needle.length)) {
          return true;
        }
        start = i + 1;
      }
    }
    return false;
  }

  /** Stops, then kills, every tagged descendant; repeats while new ones appear (forkers). */
  public static void killTagged(String tag) {
    Set<Long> seen = new HashSet<>();
    for (int round = 0; round < MAX_FREEZE_ROUNDS; round++) {
      List<ProcessHandle> found = tagged(tag);
      boolean fresh = false;
      for (ProcessHandle p : found) {
        if (seen.add(p.pid())) {
          Posix.kill(p.pid(), Posix.SIGSTOP);
          fresh = true;
        }
      }
      if (!fresh) {
        break;
      }
    }
    for (long pid : seen) {
      Posix.kill(pid, Posix.SIGKILL);
    }
  }

  /** Sends {@code signal} to every tagged descendant. */
  public static void signalTagged(String tag, int signal) {
    for (ProcessHandle p : tagged(tag)) {
      Posix.kill(p.pid(), signal);
    }
  }

  /** SIGKILL to every descendant of the agent: the last step of a shutdown. */
  public static void killAllDescendants() {
    List<ProcessHandle> all = ProcessHandle.current().descendants().toList();
    for (ProcessHandle p : all) {
      Posix.kill(p.pid(), Posix.SIGSTOP);
    }
    for (ProcessHandle p : all) {
      p.destroyForcibly();
    }
  }

  /** The root (if alive), its descendants and the members of the session it leads. */
  public static List<ProcessHandle> members(ProcessHandle root) {
    Set<ProcessHandle> out = new LinkedHashSet<>();
    if (root.isAlive()) {
      out.add(root);
    }
    root.descendants().forEach(out::add);
    for (long pid : sessionMembers(root.pid())) {
      ProcessHandle.of(pid).ifPresent(out::add);
    }
    return new ArrayList<>(out);
  }

  /**
   * Kills the whole tree with SIGKILL. Every member is first stopped with SIGSTOP, and the tree is
   * searched again until no new member appears: a stopped process can neither fork nor exit, so a
   * process that forks in a loop cannot leave a child behind, and no child is orphaned (and so
   * lost from the tree) while the search goes on.
   */
  public static void kill(ProcessHandle root) {
    Map<Long, ProcessHandle> seen = new LinkedHashMap<>();
    members(root).forEach(p -> seen.put(p.pid(), p));
    seen.keySet().forEach(pid -> Posix.kill(pid, Posix.SIGSTOP));
    for (int round = 0; round < MAX_FREEZE_ROUNDS; round++) {
      Map<Long, List<Long>> children = new HashMap<>();
      List<Long> session = new ArrayList<>();
      readTable(children, root.pid(), session);
      // Everything below a member, and every process of the session the root leads.
      Deque<Long> todo = new ArrayDeque<>(seen.keySet());
      todo.addAll(session);
      Set<Long> visited = new HashSet<>();
      boolean fresh = false;
      while (!todo.isEmpty()) {
        long pid = todo.pop();
        if (!visited.add(pid)) {
          continue;
        }
        if (!seen.containsKey(pid)) {
          Optional<ProcessHandle> h = ProcessHandle.of(pid);
          if (h.isPresent()) {
            seen.put(pid, h.get());
            Posix.kill(pid, Posix.SIGSTOP);
            fresh = true;
          }
        }
        todo.addAll(children.getOrDefault(pid, List.of()));
      }
      if (!fresh) {
        break;
      }
    }
    for (ProcessHandle p : seen.values()) {
      p.destroyForcibly();
    }
  }

  /**
   * One pass over /proc: each process's children by parent pid, and the members of session
   * {@code sid}. Leaves both empty where /proc is absent.
   */
  private static void readTable(Map<Long, List<Long>> children, long sid, List<Long> session) {
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : dir) {
        long[] f = parentAndSession(p.resolve("stat"));
        if (f == null) {
          continue;
        }
        long pid = Long.parseLong(p.getFileName().toString());
        children.computeIfAbsent(f[0], k -> new ArrayList<>()).add(pid);
        if (f[1] == sid) {
          session.add(pid);
        }
      }
    } catch (IOException | RuntimeException e) {
      // No /proc: the members found through ProcessHandle must do.
    }
  }

  /** The parent pid and session id in a /proc/PID/stat line, or null. */
  private static long[] parentAndSession(Path stat) {
    try {
      String s = Files.readString(stat);
      String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
      return new long[] {Long.parseLong(f[1]), Long.parseLong(f[3])};
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** Sends SIGTERM to the whole tree. */
  public static void terminate(ProcessHandle root) {
    for (ProcessHandle p : members(root)) {
      p.destroy();
    }
  }

  /** Every process of the session that {@code sid} leads, whether or not the leader is alive. */
  public static List<ProcessHandle> sessionTree(long sid) {
    Optional<ProcessHandle> leader = ProcessHandle.of(sid);
    if (leader.isPresent()) {
      return members(leader.get());
    }
    List<ProcessHandle> out = new ArrayList<>();
    for (long pid : sessionMembers(sid)) {
      ProcessHandle.of(pid).ifPresent(out::add);
    }
    return out;
  }

  /** SIGKILL to every process of the session {@code sid}. */
  public static void killSession(long sid) {
    for (ProcessHandle p : sessionTree(sid)) {
      p.destroyForcibly();
    }
  }

  /** Sends {@code signal} to every process of the session {@code sid}. */
  public static void signalSession(long sid, int signal) {
    for (ProcessHandle p : sessionTree(sid)) {
      Posix.kill(p.pid(), signal);
    }
  }

  /** Pids whose session id is {@code sid}, read from /proc. Empty where /proc is absent. */
  static List<Long> sessionMembers(long sid) {
    List<Long> out = new ArrayList<>();
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : dir) {
        long s = sessionOf(p.resolve("stat"));
        if (s == sid) {
          out.add(Long.parseLong(p.getFileName().toString()));
        }
      }
    } catch (IOException | RuntimeException e) {
      // No /proc: descendants alone must do.
    }
    return out;
  }

  /** The session id in a /proc/PID/stat line, or -1. */
  static long sessionOf(Path stat) {
    try {
      String s = Files.readString(stat);
      // The command name is in parentheses and may hold spaces: fields restart after the last ')'.
      String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
      // f[0] state, f[1] ppid, f[2] pgrp, f[3] session.
      return Long.parseLong(f[3]);
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }
}
