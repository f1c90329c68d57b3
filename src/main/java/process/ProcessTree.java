package process;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Finds and signals every process that belongs to one started process: its descendants, and when
 * it leads a session (as a shell on a terminal does), every process still in that session, even
 * one whose parent already exited.
 */
public final class ProcessTree {
  private ProcessTree() {}

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

  /** Kills the whole tree at once with SIGKILL. */
  public static void kill(ProcessHandle root) {
    for (ProcessHandle p : members(root)) {
      p.destroyForcibly();
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

  /** True while any process of the tree is alive. */
  public static boolean anyAlive(ProcessHandle root) {
    return members(root).stream().anyMatch(ProcessHandle::isAlive);
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
