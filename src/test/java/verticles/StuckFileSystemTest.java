package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;
import sys.LibC;

/**
 * A file system that never answers: a FUSE mount whose server never reads its requests, so every
 * look-up under it waits in the kernel, as on a hung network file system. File requests that
 * touch it wait too, and must hold nothing but the file pool: runs go on being served, and every
 * stuck request is answered once the file system goes away.
 */
class StuckFileSystemTest {
  /** More stuck requests than the file pool has threads (4). */
  private static final int STUCK = 8;
  /** The most threads the file pool may have: its 4 and 12 more while those are stuck. */
  private static final int MOST_FILE_THREADS = 16;
  /** More stuck runs than the agent has spawning threads (2 here). */
  private static final int STUCK_RUNS = 4;
  private static final long BOUND_MS = 30_000;

  /**
   * Runs whose exec, or whose chdir, waits on the stuck mount. Other runs are still served, their
   * exits still come, a timeout still answers (even for a process that no kill can end while it
   * waits for the mount's directory), and closing the connection kills the stuck ones; a session
   * stuck so is killed after its start bound.
   */
  @Test
  void runsStuckInTheirExecStopNoOtherRunAndAreKilledByTimeoutOrClose(@TempDir Path dir)
      throws Exception {
    Path mnt = Files.createDirectory(dir.resolve("mnt"));
    try (StuckMount fs = new StuckMount(mnt)) {
      // Extra spawning threads go after 1 s without work here, instead of 30.
      try (AgentProcess agent = AgentProcess.launchWrapped(dir, List.of(),
              List.of("-Dagent.spawn.idle_seconds=1", "-Dagent.shell.start_bound_ms=1000"),
              List.of("--listen", "unix:" + dir.resolve("agent.sock")), Map.of()).awaitReady();
          AgentConnection stuck = AgentConnection.open(agent.unix());
          AgentConnection timed = AgentConnection.open(agent.unix());
          AgentConnection runs = AgentConnection.open(agent.unix())) {
        for (int i = 0; i < STUCK_RUNS; i++) {
          JsonObject run = new JsonObject().put("id", "s" + i).put("type", "run");
          if (i % 2 == 0) {
            run.put("command", new JsonArray().add(mnt.resolve("x").toString()));
          } else {
            run.put("command", new JsonArray().add("true")).put("cwd", mnt.toString());
          }
          stuck.send(run);
        }
        timed.send(new JsonObject().put("id", "t").put("type", "run").put("timeout_ms", 1000)
            .put("command", new JsonArray().add(mnt.resolve("y").toString())));
        for (int i = 0; i < 5; i++) {
          JsonObject r = within(runs, new JsonObject().put("id", "r" + i).put("type", "run")
              .put("command", new JsonArray().add("sh").add("-c").add("echo ok " + i)));
          assertEquals(0, r.getInteger("exit_code"), r::encode);
          assertEquals("ok " + i + "\n", r.getString("stdout"), r::encode);
        }
        JsonObject t = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
          try {
            return timed.receive();
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        }).get(BOUND_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
        assertEquals(124, t.getInteger("exit_code"), t::encode);
        assertEquals(Boolean.TRUE, t.getBoolean("timed_out"), t::encode);
        // The stuck ones are still there, each waiting in its exec or chdir; a run's child is
        // not waited for until its exec, so no spawning thread waits with it.
        assertEquals(0, agent.log().stream().filter(l -> l.contains("spawn_stuck")).count(),
            () -> String.join("\n", agent.log()));
        assertTrue(spawningThreads(agent) <= 2 + 8, "spawning threads: " + spawningThreads(agent));
        assertTrue(children(agent) >= 2, "the stuck runs' processes are gone already");
        stuck.close();
        support.Poll.until("the stuck runs' processes outlived their connection", BOUND_MS,
            () -> children(agent) == 0);
        // A session whose program hangs in its exec is killed once past its start bound (1 s
        // here): the host, which has no session id yet, hears it start and end. (Alone: a look-up
        // queued behind the stuck runs' ones waits on the directory's lock, which no kill ends.)
        timed.send(new JsonObject().put("id", "sh").put("type", "shell")
            .put("command", new JsonArray().add(mnt.resolve("z").toString())));
        JsonObject sh = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
          try {
            JsonObject e;
            while (!"exited".equals((e = timed.receive()).getString("shell_event"))) {
              assertTrue(e.containsKey("session_id"), e::encode);
            }
            return e;
          } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        }).get(BOUND_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
        assertEquals(128 + 9, sh.getInteger("exit_code"), sh::encode);
        agent.awaitLog("a shell_start_stuck line", l -> l.contains("shell_start_stuck"));
        JsonObject after = within(runs, new JsonObject().put("id", "a").put("type", "run")
            .put("command", new JsonArray().add("echo").add("after")));
        assertEquals("after\n", after.getString("stdout"), after::encode);
        // The extra threads go once idle, each with its gate: its sentinel thread, and the FIFOs
        // it held (two per gate, so four for the two threads that stay).
        support.Poll.until("extra spawning threads or their gates stayed", BOUND_MS,
            () -> named(agent, "process-spawn") == 2 && named(agent, "process-gate") <= 2
                && gateDescriptors(agent) <= 4);
      }
    }
  }

  /**
   * A timed-out run whose process no kill can end yet: creating a file takes the directory's
   * lock, which another run's process holds while its own creat waits on the mount, and a process
   * waiting for that lock does not die of SIGKILL until it gets it. The run is answered 124 a
   * second after its kill all the same (before, it waited for its process's exit), and its
   * process goes once the holder is killed.
   */
  @Test
  void aTimedOutRunWhoseProcessNoKillCanEndYetIsStillAnswered(@TempDir Path dir)
      throws Exception {
    Path mnt = Files.createDirectory(dir.resolve("mnt"));
    try (StuckMount fs = new StuckMount(mnt)) {
      try (AgentProcess agent = AgentProcess.launch(dir,
              List.of("--listen", "unix:" + dir.resolve("agent.sock")), Map.of()).awaitReady();
          AgentConnection holder = AgentConnection.open(agent.unix());
          AgentConnection timed = AgentConnection.open(agent.unix())) {
        holder.send(new JsonObject().put("id", "h").put("type", "run").put("command",
            new JsonArray().add("sh").add("-c").add("echo > " + mnt.resolve("a"))));
        // Its shell in its openat: it has the directory's lock and waits on the mount.
        support.Poll.until("the first creat did not reach the mount", BOUND_MS,
            () -> inSyscall(agent, LibC.ARM ? "56" : "257"));
        JsonObject t = within(timed, new JsonObject().put("id", "t").put("type", "run")
            .put("timeout_ms", 500).put("command", new JsonArray().add("sh").add("-c")
                .add("echo > " + mnt.resolve("b"))));
        assertEquals(124, t.getInteger("exit_code"), t::encode);
        assertEquals(Boolean.TRUE, t.getBoolean("timed_out"), t::encode);
        support.Poll.until("no run_unkilled for t in the log", BOUND_MS,
            () -> agent.log().stream().anyMatch(l -> l.contains("run_unkilled")
                && l.contains("id=t")));
        assertEquals(2, children(agent), "both shells are still there");
        holder.close();
        support.Poll.until("a process outlived its run", BOUND_MS, () -> children(agent) == 0);
      }
    }
  }

  /** Whether a child of the agent waits in system call {@code number}. */
  private static boolean inSyscall(AgentProcess agent, String number) {
    return support.Procs.children(agent.pid()).anyMatch(c -> {
      try {
        return Files.readString(Path.of("/proc/" + c.pid() + "/syscall")).startsWith(number + " ");
      } catch (java.io.IOException e) {
        return false;
      }
    });
  }

  /**
   * Sessions whose program hangs in its exec, as many as the agent has worker threads (8): each
   * waits on a spawning thread, not on a worker, so another session's input is still served and
   * another session still starts, long before their start bound.
   */
  @Test
  void sessionsStuckInTheirExecHoldUpNoOtherSession(@TempDir Path dir) throws Exception {
    Path mnt = Files.createDirectory(dir.resolve("mnt"));
    try (StuckMount fs = new StuckMount(mnt)) {
      try (AgentProcess agent = AgentProcess.launchWrapped(dir, List.of(),
              List.of("-Dagent.shell.start_bound_ms=120000"),
              List.of("--listen", "unix:" + dir.resolve("agent.sock")), Map.of()).awaitReady();
          AgentConnection live = AgentConnection.open(agent.unix());
          AgentConnection stuck = AgentConnection.open(agent.unix());
          AgentConnection later = AgentConnection.open(agent.unix())) {
        String sid = live.call(new JsonObject().put("id", "cat").put("type", "shell")
            .put("command", new JsonArray().add("cat"))).getString("session_id");
        assertTrue(sid != null, "the live session did not start");
        for (int i = 0; i < 8; i++) {
          stuck.send(new JsonObject().put("id", "z" + i).put("type", "shell")
              .put("command", new JsonArray().add(mnt.resolve("z" + i).toString())));
        }
        support.Poll.until("the stuck sessions' starts did not begin", BOUND_MS,
            () -> children(agent) == 1 + 8);
        live.send(new JsonObject().put("id", "in").put("type", "shell_input")
            .put("session_id", sid).put("input_base64", java.util.Base64.getEncoder()
                .encodeToString("still here\n".getBytes(java.nio.charset.StandardCharsets.UTF_8))));
        String echoed = support.SessionOutput.until(live, out -> out.contains("still here"),
            BOUND_MS);
        assertTrue(echoed.contains("still here"), echoed);
        JsonObject another = within(later, new JsonObject().put("id", "sh").put("type", "shell")
            .put("command", new JsonArray().add("cat")));
        assertTrue(another.getString("session_id") != null, another::encode);
      }
    }
  }

  /**
   * A shutdown while runs and a session wait in their exec on the stuck mount: their starts are
   * killed rather than waited for, so the shutdown ends in order (not by its guard's halt), with
   * no process and no gate directory left.
   */
  @Test
  void aShutdownWithStartsStuckInTheirExecEndsInOrderAndLeavesNothing(@TempDir Path dir)
      throws Exception {
    Path mnt = Files.createDirectory(dir.resolve("mnt"));
    List<Path> gatesBefore = gateDirectories();
    try (StuckMount fs = new StuckMount(mnt)) {
      try (AgentProcess agent = AgentProcess.launch(dir,
              List.of("--listen", "unix:" + dir.resolve("agent.sock")), Map.of()).awaitReady();
          AgentConnection stuck = AgentConnection.open(agent.unix())) {
        for (int i = 0; i < 6; i++) {
          stuck.send(new JsonObject().put("id", "s" + i).put("type", "run")
              .put("command", new JsonArray().add(mnt.resolve("x" + i).toString())));
        }
        stuck.send(new JsonObject().put("id", "sh").put("type", "shell")
            .put("command", new JsonArray().add(mnt.resolve("z").toString())));
        support.Poll.until("the stuck starts did not begin", BOUND_MS,
            () -> children(agent) == 7);
        List<ProcessHandle> started = support.Procs.children(agent.pid()).toList();
        agent.process().destroy();
        assertEquals(0, agent.awaitExit(30));
        assertTrue(agent.log().stream().noneMatch(l -> l.contains("shutdown_slow")),
            () -> String.join("\n", agent.log()));
        support.Poll.until("a stuck start outlived the agent", BOUND_MS,
            () -> started.stream().noneMatch(ProcessHandle::isAlive));
        List<Path> left = gateDirectories();
        left.removeAll(gatesBefore);
        assertEquals(List.of(), left, "gate directories left");
      }
    }
  }

  private static List<Path> gateDirectories() throws java.io.IOException {
    try (var shm = Files.list(Path.of("/dev/shm"))) {
      return new java.util.ArrayList<>(shm.filter(
          f -> f.getFileName().toString().startsWith("agent-gate")).toList());
    }
  }

  /**
   * A FUSE mount whose server side is a descriptor nobody reads: not even the INIT request is
   * answered, so every operation on the mount waits, as on a dead network file system.
   */
  private static final class StuckMount implements AutoCloseable {
    private final Path dir;
    private int fuse;

    StuckMount(Path dir) {
      this.dir = dir;
      fuse = LibC.openat(LibC.AT_FDCWD, LibC.c("/dev/fuse"), LibC.O_RDWR | LibC.O_CLOEXEC, 0);
      assertTrue(fuse >= 0, () -> "/dev/fuse: " + LibC.strerror(LibC.errno()));
      int rc = LibC.mount("stuck", dir.toString(), "fuse", 0,
          "fd=" + fuse + ",rootmode=40000,user_id=0,group_id=0");
      if (rc != 0) {
        String error = LibC.strerror(LibC.errno());
        LibC.close(fuse);
        throw new AssertionError("mount: " + error);
      }
    }

    /**
     * The file system goes away: closing the server's descriptor aborts its connection, and
     * every call waiting on it fails.
     */
    void abort() {
      assertEquals(0, LibC.close(fuse));
      fuse = -1;
    }

    @Override
    public void close() throws Exception {
      new ProcessBuilder("umount", "-l", dir.toString()).inheritIO().start().waitFor();
      if (fuse >= 0) {
        LibC.close(fuse);
      }
    }
  }

  /** Sends {@code request} and waits for its answer, at most {@link #BOUND_MS}. */
  private static JsonObject within(AgentConnection c, JsonObject request) throws Exception {
    return java.util.concurrent.CompletableFuture.supplyAsync(() -> {
      try {
        return c.call(request);
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }).get(BOUND_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  private static long children(AgentProcess agent) {
    return support.Procs.children(agent.pid()).count();
  }

  private static long spawningThreads(AgentProcess agent) {
    return named(agent, "process-spawn");
  }

  /** How many of the agent's threads are called {@code name}. */
  private static long named(AgentProcess agent, String name) {
    try (var tasks = Files.list(Path.of("/proc/" + agent.pid() + "/task"))) {
      return tasks.filter(task -> {
        try {
          return Files.readString(task.resolve("comm")).trim().equals(name);
        } catch (java.io.IOException e) {
          return false;
        }
      }).count();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /** The agent's descriptors on a gate's FIFOs. */
  private static long gateDescriptors(AgentProcess agent) {
    try (var fds = Files.list(Path.of("/proc/" + agent.pid() + "/fd"))) {
      return fds.filter(fd -> {
        try {
          return Files.readSymbolicLink(fd).toString().contains("agent-gate");
        } catch (java.io.IOException e) {
          return false;
        }
      }).count();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /**
   * File requests stuck on the mount hold their threads, so the file pool grows while all of its
   * threads are stuck, and other file requests are still served; once the most threads it may
   * have (16) are all stuck, a file request is answered {@code Busy} at once instead of waiting.
   * Every stuck request is answered once the file system goes away, and the extra threads go.
   */
  @Test
  void aStuckFileSystemStopsNoRunAndEveryStuckRequestIsAnsweredWhenItGoes(@TempDir Path dir)
      throws Exception {
    Path mnt = Files.createDirectory(dir.resolve("mnt"));
    try (StuckMount fs = new StuckMount(mnt)) {
      // Extra file threads go after 1 s without work here, instead of 30.
      try (AgentProcess agent = AgentProcess.launchWrapped(dir, List.of(),
              List.of("-Dagent.file.idle_seconds=1"),
              List.of("--listen", "unix:" + dir.resolve("agent.sock")), Map.of()).awaitReady();
          AgentConnection files = AgentConnection.open(agent.unix());
          AgentConnection other = AgentConnection.open(agent.unix());
          AgentConnection runs = AgentConnection.open(agent.unix())) {
        for (int i = 0; i < STUCK; i++) {
          sendStuck(files, mnt, i);
        }
        for (int i = 0; i < 5; i++) {
          JsonObject r = runs.call(new JsonObject().put("id", "r" + i).put("type", "run")
              .put("command", new JsonArray().add("echo").add("ok " + i)));
          assertEquals(0, r.getInteger("exit_code"), r::encode);
          assertEquals("ok " + i + "\n", r.getString("stdout"), r::encode);
        }
        // A ping on the same connection is answered first, which shows the stuck ones really
        // are stuck (none of them has an answer yet).
        files.send(new JsonObject().put("id", "p").put("type", "ping"));
        JsonObject first = files.receive();
        assertEquals("p", first.getString("id"), first::encode);
        // A file request elsewhere is served by a thread the pool adds, although every one of
        // its four threads is stuck and four more stuck requests were queued before it.
        JsonObject served = within(other, new JsonObject().put("id", "o").put("type", "stat")
            .put("path", dir.toString()));
        assertEquals("dir", served.getJsonObject("stat").getString("type"), served::encode);
        support.Poll.until("no file_stuck in the log", BOUND_MS,
            () -> agent.log().stream().anyMatch(l -> l.contains("file_stuck")));

        // As many stuck requests as the pool may have threads: then a request is refused.
        for (int i = STUCK; i < MOST_FILE_THREADS; i++) {
          sendStuck(files, mnt, i);
        }
        support.Poll.until("the file pool did not grow to its most threads", BOUND_MS,
            () -> named(agent, "agent-file") == MOST_FILE_THREADS);
        JsonObject refused = within(other, new JsonObject().put("id", "b").put("type", "stat")
            .put("path", dir.toString()));
        assertTrue(refused.getString("error", "").startsWith("Busy: file threads ("
            + MOST_FILE_THREADS + ")"), refused::encode);
        // Logged before the answer went, but read from the agent's stderr by another thread.
        support.Poll.until("no file_full in the log", BOUND_MS,
            () -> agent.log().stream().anyMatch(l -> l.contains("file_full")));

        // The file system goes away.
        fs.abort();
        Set<String> answered = new HashSet<>();
        for (int i = 0; i < MOST_FILE_THREADS; i++) {
          JsonObject r = files.receive();
          assertTrue(r.containsKey("error"), r::encode);
          assertTrue(answered.add(r.getString("id")), () -> "answered twice: " + r.encode());
        }
        assertEquals(MOST_FILE_THREADS, answered.size());
        // And file work goes on, on the pool's own four threads once the others have gone.
        JsonObject stat = files.call(new JsonObject().put("id", "d").put("type", "stat")
            .put("path", dir.toString()));
        assertEquals("dir", stat.getJsonObject("stat").getString("type"), stat::encode);
        support.Poll.until("extra file threads stayed", BOUND_MS,
            () -> named(agent, "agent-file") == 4);
      }
    }
  }

  /** Sends a {@code read_file} or a {@code stat} of a name on the stuck mount. */
  private static void sendStuck(AgentConnection c, Path mnt, int i) throws Exception {
    c.send(new JsonObject().put("id", "s" + i).put("type", i % 2 == 0 ? "read_file" : "stat")
        .put("path", mnt.resolve("f" + i).toString()));
  }
}
