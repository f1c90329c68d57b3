package verticles;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import process.ProcStat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import support.AgentProcess;

/**
 * Each run and each session lives in a cell of its own: a cgroup where cgroup v2 is available
 * (here, at /sys/fs/cgroup/unified; pids.max from the cgroup v1 pids hierarchy beside it), or its
 * session and tag read from /proc where it is not or is switched off ({@code cgroups: off}).
 * Every test counts processes, never times them; the bounds only catch hangs.
 */
class ContainmentTest {
  private static final long BOUND_MS = 30_000;

  /** A folder for each agent a test starts, for its socket. */
  @TempDir
  Path tmp;

  /** A run whose tree escapes it in every way a careless command does. */
  private static JsonObject escapees(String id, String marker) {
    String script = "(setsid sleep " + marker + " &); "
        + "(sh -c 'sleep " + marker + " & exit' &); "
        + "(env -i /usr/bin/setsid /bin/sleep " + marker + " &); "
        + "echo started; sleep " + marker;
    return run(id, "sh", "-c", script);
  }

  private static JsonObject run(String id, String... command) {
    JsonArray cmd = new JsonArray();
    for (String c : command) {
      cmd.add(c);
    }
    return new JsonObject().put("id", id).put("type", "run").put("command", cmd);
  }

  private AgentProcess agent(Map<String, String> env) throws Exception {
    Path dir = Files.createTempDirectory(tmp, "containment");
    return AgentProcess.launch(dir, List.of("--listen", "unix:" + dir.resolve("agent.sock"),
        "--log-level", "debug"), env).awaitReady();
  }

  /** An agent whose children are held by a gate (as where the exec helper cannot be used). */
  private AgentProcess gatedAgent(List<String> wrapper) throws Exception {
    Path dir = Files.createTempDirectory(tmp, "containment");
    return AgentProcess.launchWrapped(dir, wrapper, List.of(GATE), List.of("--listen",
        "unix:" + dir.resolve("agent.sock"), "--log-level", "debug"),
        Map.of("AGENT_PIDS_MAX", "4096")).awaitReady();
  }

  /** Takes the exec helper off, so that each spawning thread's gate places its children. */
  private static final String GATE = "-Dagent.spawn.exec_helper.off=true";

  private AgentProcess cgroupAgent(String pidsMax) throws Exception {
    return agent(Map.of("AGENT_PIDS_MAX", pidsMax));
  }

  private AgentProcess procAgent() throws Exception {
    return agent(Map.of("AGENT_CGROUPS", "off"));
  }

  @Test
  void aBoundedForkBombStaysUnderPidsMaxLeavesTheVmUsableAndIsGoneAfterTheKill()
      throws Exception {
    // At most 2^8 - 1 = 255 processes even without a limit: the bomb is bounded by its depth.
    // It starts forking once it is in its cell (a builtin loop, no fork): what a run forks in the
    // moment between its start and its move is not under pids.max yet (SECURITY.md, "Limits of
    // this"), and on a loaded machine that moment can be long enough for a few forks.
    String marker = "61." + ProcessHandle.current().pid() + "1";
    String bomb = "until read -r -d '' c < /proc/self/cgroup; [[ $c == *0::*/run.* ]]; do :; done; "
        + "f(){ if [ $1 -gt 0 ]; then f $(($1-1)) & f $(($1-1)) & wait; "
        + "else exec sleep \"$0\"; fi; }; f 7";
    try (AgentProcess agent = cgroupAgent("64")) {
      try (AgentConnection a = AgentConnection.open(agent.unix())) {
        a.send(run("bomb", "bash", "-c", bomb, marker).put("stream", true));
        await(() -> withArg(marker).size() >= 48, "the bomb never grew");
        assertEngine(agent, "cgroup");
        // Never more than the cell allows, however long it tries.
        for (int i = 0; i < 20; i++) {
          int n = withArg(marker).size();
          assertTrue(n <= 64, "processes in the bomb's cell: " + n);
          Thread.sleep(25);
        }
        // And it did try for more: the cell refused forks.
        long member = withArg(marker).get(0);
        Path events = pidsEvents(member);
        assertTrue(Files.readString(events).matches("(?s).*max [1-9].*"),
            events + ": " + Files.readString(events));
        // The VM is still usable: another run starts and answers.
        try (AgentConnection b = AgentConnection.open(agent.unix())) {
          JsonObject r = b.call(run("ok", "sh", "-c", "echo ok"));
          assertEquals("ok\n", r.getString("stdout"), r::encode);
        }
      }
      // The bomb's connection is gone: so is every process of it.
      await(() -> withArg(marker).isEmpty(), "bomb processes outlived the kill: "
          + withArg(marker).size());
      await(() -> runCells(agent).isEmpty(), "cgroups left: " + runCells(agent));
    }
  }

  @Test
  void cgroupPathKillsEscapeesOnTimeoutAndOnDisconnect() throws Exception {
    killsEscapees(cgroupAgent("4096"), "cgroup", "62." + ProcessHandle.current().pid());
  }

  /**
   * Without the gate that holds each child until it is in its cell, a child is moved right after
   * its spawn and may have forked before: the sweeps still bring that into its cell.
   */
  @Test
  void withoutTheSpawnGateEscapeesForkedBeforeTheMoveAreStillKilled() throws Exception {
    Path dir = Files.createTempDirectory(tmp, "containment");
    AgentProcess ungated = AgentProcess.launchWrapped(dir, List.of(),
        List.of("-Dagent.spawn.gate=false"), List.of("--listen", "unix:" + dir.resolve(
            "agent.sock"), "--log-level", "debug"), Map.of("AGENT_PIDS_MAX", "4096"))
        .awaitReady();
    killsEscapees(ungated, "cgroup", "74." + ProcessHandle.current().pid());
    assertTrue(ungated.log().stream().noneMatch(l -> l.contains("spawn_gate")),
        () -> String.join("\n", ungated.log()));
  }

  /**
   * The gate makes its FIFOs in /dev/shm, which anything in the VM can fill. With no inode left
   * there, runs still start (moved after their start) instead of waiting, and the gate comes
   * back once there is room again.
   */
  @Test
  void withNoRoomForTheGatesFifosRunsStillStartAndTheGateComesBack() throws Exception {
    Path dir = Files.createTempDirectory(tmp, "containment");
    List<String> wrapper = List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
        "mount -t tmpfs -o nr_inodes=64 none /dev/shm && exec \"$@\"", "sh");
    try (AgentProcess agent = gatedAgent(wrapper);
        AgentConnection c = AgentConnection.open(agent.unix())) {
      // Both spawning threads make their gates.
      for (int i = 0; i < 4; i++) {
        assertTrue(firstCgroup(c, "w" + i).contains("/run."), "not placed before the fill");
      }
      // A leftover that keeps taking every inode freed there, until told to stop.
      Path stop = dir.resolve("stop");
      String filler = "75." + ProcessHandle.current().pid();
      JsonObject fill = c.call(run("fill", "sh", "-c", "(i=0; while [ ! -e " + stop
          + " ]; do true 2>/dev/null > /dev/shm/f$i && i=$((i+1)); done) >/dev/null 2>&1 &",
          filler));
      assertEquals(0, fill.getInteger("exit_code"), fill::encode);
      assertEquals(1, withArg(filler).size(), "the filler is not running");
      for (int i = 0; i < 10; i++) {
        JsonObject r = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
          try {
            return c.call(run("x", "echo", "started"));
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
        }).get(BOUND_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
        assertEquals("started\n", r.getString("stdout"), r::encode);
      }
      agent.awaitLog("the FIFOs failing (else the test filled nothing)",
          l -> l.contains("spawn_gate_failed"));
      Files.createFile(stop);
      await(() -> withArg(filler).isEmpty(), "the filler did not stop");
      assertEquals(0, c.call(run("free", "sh", "-c", "rm -f /dev/shm/f*"))
          .getInteger("exit_code"));
      // The next spawns ask the keeper to try again; after that every run is placed first.
      for (int i = 0; i < 4; i++) {
        firstCgroup(c, "a" + i);
      }
      for (int i = 0; i < 20; i++) {
        String where = firstCgroup(c, "p" + i);
        assertTrue(where.contains("/run."), "run " + i + " started in " + where);
      }
      agent.awaitLog("the gate's FIFOs made again", l -> l.contains("FIFOs can be made again"));
    }
  }

  @Test
  void withNoRoomForAGateAtTheStartRunsStillStartAndTheGateIsMadeOnceThereIsRoom()
      throws Exception {
    // /dev/shm is full before the agent starts: no spawning thread can make its first gate.
    List<String> wrapper = List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
        "mount -t tmpfs -o nr_inodes=64 none /dev/shm && i=0 && while true 2>/dev/null"
            + " > /dev/shm/f$i; do i=$((i+1)); done; exec \"$@\"", "sh");
    try (AgentProcess agent = gatedAgent(wrapper);
        AgentConnection c = AgentConnection.open(agent.unix())) {
      for (int i = 0; i < 6; i++) {
        // Placed after the spawn: the first command may have read its cgroup before that.
        assertTrue(firstCgroup(c, "w" + i).startsWith("/"), "run " + i + " not answered");
      }
      agent.awaitLog("no gate in a full /dev/shm",
          l -> l.contains("spawn_gate_unavailable"));
      assertEquals(0, gateThreads(agent), "a gate was made in a full /dev/shm");
      assertEquals(0, c.call(run("free", "sh", "-c", "rm -f /dev/shm/f*"))
          .getInteger("exit_code"));
      // Each spawning thread tries again at its next spawn.
      for (int i = 0; i < 20; i++) {
        String where = firstCgroup(c, "p" + i);
        assertTrue(where.contains("/run."), "run " + i + " started in " + where);
      }
      assertTrue(gateThreads(agent) >= 1, "no gate was made once there was room");
      agent.awaitLog("a gate made again", l -> l.contains("a gate could be made again"));
    }
  }

  /** How many gate keepers the agent runs: one per spawning thread that has a gate. */
  private static long gateThreads(AgentProcess agent) throws IOException {
    try (var tasks = Files.list(Path.of("/proc/" + agent.pid() + "/task"))) {
      return tasks.filter(t -> {
        try {
          return Files.readString(t.resolve("comm")).trim().equals("process-gate");
        } catch (IOException e) {
          return false;
        }
      }).count();
    }
  }

  /** The cgroup a run's first command runs in. */
  private static String firstCgroup(AgentConnection c, String id) throws IOException {
    JsonObject r = c.call(run(id, "sed", "-n", "s/^0:://p", "/proc/self/cgroup"));
    assertEquals(0, r.getInteger("exit_code"), r::encode);
    return r.getString("stdout").trim();
  }

  @Test
  void procPathKillsEscapeesOnTimeoutAndOnDisconnect() throws Exception {
    killsEscapees(procAgent(), "proc", "63." + ProcessHandle.current().pid());
  }

  private void killsEscapees(AgentProcess started, String engine, String marker)
      throws Exception {
    try (AgentProcess agent = started) {
      killsEscapees(agent, engine, marker + "1", true);
      killsEscapees(agent, engine, marker + "2", false);
      if (engine.equals("proc")) {
        shutdown(agent);
        await(() -> withArg(marker + "1").isEmpty() && withArg(marker + "2").isEmpty(),
            "escapees outlived the agent");
      }
    }
  }

  /** One run whose tree escapes, ended by its timeout or by its connection closing. */
  private void killsEscapees(AgentProcess agent, String engine, String marker,
      boolean byTimeout) throws Exception {
    try (AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject req = escapees("e", marker).put("stream", true);
      if (byTimeout) {
        req.put("timeout_ms", 5000);
      }
      c.send(req);
      JsonObject first = c.receive();
      assertEquals("stdout", first.getString("stream"), first::encode);
      // The setsid, double-fork and detached cleared-environment sleeps, and the run's own.
      // Each past its last exec (argv[0] is sleep): before it, setsid or env still carries the
      // tag, and killing it then would stop the cleared-environment one from ever starting.
      await(() -> sleeping(marker).size() == 4, "not everything started: " + withArg(marker));
      assertEngine(agent, engine);
      if (engine.equals("cgroup")) {
        // An orphan caught in the middle of an exec while its run was placed joins the cell
        // a moment later, once its exec is done.
        String cell = ".*/agent\\." + agent.pid() + "\\.[0-9a-f]+/run\\.\\d+";
        await(() -> withArg(marker).stream().allMatch(pid -> cgroupOf(pid).matches(cell)),
            () -> "not every process is in a cell: " + withArg(marker).stream()
                .map(pid -> pid + " in " + cgroupOf(pid)).toList() + "; agent log: "
                + agent.log());
      }
      if (byTimeout) {
        JsonObject r;
        while (!(r = c.receive()).containsKey("exit_code")) {
          assertTrue(r.containsKey("stream"), r::encode);
        }
        assertEquals(124, r.getInteger("exit_code"), r::encode);
      }
    }
    if (engine.equals("cgroup")) {
      await(() -> withArg(marker).isEmpty(), "escapees outlived the kill: " + withArg(marker));
      await(() -> runCells(agent).isEmpty(), "cgroups left: " + runCells(agent));
    } else {
      // Without cgroups, one that left the session and cleared its environment cannot be told
      // from the agent's other descendants until shutdown; every other one goes now.
      await(() -> withArg(marker).size() == 1, "escapees outlived the kill: "
          + withArg(marker));
      long survivor = withArg(marker).get(0);
      assertFalse(new String(Files.readAllBytes(Path.of("/proc/" + survivor + "/environ")))
          .contains("AGENT_RUN_ID"), "a tagged process survived");
    }
  }

  @Test
  void leftoversStayInTheirCellUntilShutdownUnlessKillLeftoversIsSet() throws Exception {
    String marker = "64." + ProcessHandle.current().pid();
    try (AgentProcess agent = cgroupAgent("4096");
        AgentConnection c = AgentConnection.open(agent.unix())) {
      // The default: a daemon started the way hosts start them keeps running...
      JsonObject r = c.call(run("keep", "sh", "-c",
          "sleep " + marker + "1 >/dev/null 2>&1 &"));
      assertEquals(0, r.getInteger("exit_code"), r::encode);
      assertEquals(1, withArg(marker + "1").size(), "the daemon did not keep running");
      long daemon = withArg(marker + "1").get(0);
      // ... in a cell of its own, known to the agent.
      assertTrue(cgroupOf(daemon).matches(".*/agent\\." + agent.pid() + "\\.[0-9a-f]+/run\\.\\d+"),
          cgroupOf(daemon));
      JsonObject bad = c.call(run("bad", "true").put("kill_leftovers", "yes"));
      assertEquals("Invalid request: field 'kill_leftovers' must be a boolean",
          bad.getString("error"), bad::encode);
      JsonObject info = c.call(new JsonObject().put("id", "i").put("type", "info"));
      assertTrue(info.getJsonObject("info").getJsonArray("capabilities")
          .contains("run_kill_leftovers"), info::encode);
      // With kill_leftovers, what the run left goes when it is answered.
      r = c.call(run("kill", "sh", "-c", "sleep " + marker + "2 >/dev/null 2>&1 &")
          .put("kill_leftovers", true));
      assertEquals(0, r.getInteger("exit_code"), r::encode);
      await(() -> withArg(marker + "2").isEmpty(), "kill_leftovers left it running");
      assertEquals(List.of(daemon), withArg(marker + "1"), "the first daemon went too");
      // The empty cell is removed; the daemon's stays.
      await(() -> runCells(agent).stream().map(p -> p.getFileName().toString()).distinct()
          .toList().equals(List.of("run.1")), "cells: " + runCells(agent));
      List<Path> bases = bases(agent);
      assertFalse(bases.isEmpty(), "no cgroup subtree for the agent");
      shutdown(agent);
      await(() -> withArg(marker + "1").isEmpty(), "the daemon outlived the agent");
      // Nothing of the agent is left in the cgroup trees.
      for (Path base : bases) {
        assertFalse(Files.exists(base), base + " outlived the agent");
      }
      assertEquals(List.of(), bases(agent), "cgroups left by the agent");
    }
  }

  /**
   * Waits until the shell that runs it is in its cell: it may run before the agent has moved it
   * there, and a move out of the agent's own leaf would then be undone by that placement.
   */
  private static final String PLACED = "until sed -n 's/^0:://p' /proc/$$/cgroup "
      + "| grep -q '/run\\.\\|/shell\\.'; do :; done; ";

  /**
   * Moves the shell that runs it out of its cell, as root can: into the parent of its cgroup (the
   * agent's subtree), or where that refuses a process, the root. Prints where it went.
   */
  private static final String LEAVE_CELL = PLACED + "cg=$(sed -n 's/^0:://p' /proc/self/cgroup); "
      + "mnt=$(awk '$3==\"cgroup2\" {print $2; exit}' /proc/mounts); "
      + "{ echo $$ > \"$mnt${cg%/*}/cgroup.procs\" || echo $$ > \"$mnt/cgroup.procs\"; } "
      + "2>/dev/null; echo \"left:$(sed -n 's/^0:://p' /proc/self/cgroup)\"; ";

  private static boolean inACell(long pid) {
    return cgroupOf(pid).matches(".*/agent\\.\\d+\\.[0-9a-f]+/(run|shell)\\.[0-9a-f.]+");
  }

  @Test
  void aRunThatLeavesItsCellIsStillKilledOnTimeoutAndOnDisconnect() throws Exception {
    String marker = "69." + ProcessHandle.current().pid();
    try (AgentProcess agent = cgroupAgent("4096");
        AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject r = c.call(run("t", "sh", "-c", LEAVE_CELL + "sleep " + marker + "1 & "
          + "sleep " + marker + "2; echo end").put("timeout_ms", 1000));
      String out = r.getString("stdout");
      assertTrue(out.startsWith("left:/") && !out.contains("/run."), r::encode);
      assertEquals(124, r.getInteger("exit_code"), r::encode);
      assertFalse(out.contains("end"), r::encode);
      await(() -> withArg(marker + "1").isEmpty() && withArg(marker + "2").isEmpty(),
          () -> "left running: " + withArg(marker + "1") + withArg(marker + "2"));

      AgentConnection gone = AgentConnection.open(agent.unix());
      gone.send(run("d", "sh", "-c", LEAVE_CELL + "sleep " + marker + "3"));
      await(() -> sleeping(marker + "3").size() == 1 && !inACell(sleeping(marker + "3").get(0)),
          "the run did not leave its cell");
      gone.close();
      await(() -> withArg(marker + "3").isEmpty(), "left running after its connection closed");
    }
  }

  @Test
  void whatLeftItsCellEndsAtShutdownAndNoCgroupIsLeft() throws Exception {
    String marker = "73." + ProcessHandle.current().pid();
    try (AgentProcess agent = cgroupAgent("4096");
        AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject r = c.call(run("d", "sh", "-c",
          LEAVE_CELL + "sleep " + marker + " >/dev/null 2>&1 &"));
      assertEquals(0, r.getInteger("exit_code"), r::encode);
      await(() -> sleeping(marker).size() == 1 && !inACell(sleeping(marker).get(0)),
          "the leftover did not leave its cell");
      List<Path> bases = bases(agent);
      shutdown(agent);
      await(() -> withArg(marker).isEmpty(), "the leftover outlived the agent");
      for (Path base : bases) {
        assertFalse(Files.exists(base), base + " outlived the agent");
      }
    }
  }

  /**
   * The sentinel lives in the agent's own leaf, which shutdown removes last: stopped by code in
   * the VM (so that it would not see its stdin end), it still goes, and so does the leaf.
   */
  @Test
  void aStoppedSentinelLeavesNoCgroupBehind() throws Exception {
    try (AgentProcess agent = cgroupAgent("4096");
        AgentConnection c = AgentConnection.open(agent.unix())) {
      assertEquals(0, c.call(run("t", "/bin/true")).getInteger("exit_code"));
      await(() -> support.Procs.sentinels(agent.pid()).count() == 1, "no sentinel");
      ProcessHandle sentinel = support.Procs.sentinels(agent.pid()).findFirst().orElseThrow();
      assertTrue(sys.LibC.signal(sentinel.pid(), sys.LibC.SIGSTOP));
      List<Path> bases = bases(agent);
      assertTrue(bases.stream().anyMatch(b -> b.getFileName().toString().endsWith(".self")),
          () -> "no leaf of the agent's own: " + bases);
      shutdown(agent);
      await(() -> {
        process.ProcStat s = process.ProcStat.read(sentinel.pid());
        return s == null || s.zombie();
      }, "the stopped sentinel outlived the agent");
      for (Path base : bases) {
        assertFalse(Files.exists(base), base + " outlived the agent");
      }
    }
  }

  @Test
  void aSessionThatLeavesItsCellAndIgnoresTheHangUpIsStillClosed() throws Exception {
    String marker = "71." + ProcessHandle.current().pid();
    try (AgentProcess agent = cgroupAgent("4096");
        AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject started = c.call(new JsonObject().put("id", "s").put("type", "shell")
          .put("command", new JsonArray().add("sh").add("-c").add(LEAVE_CELL
              + "trap '' HUP; sleep " + marker + "1 & sleep " + marker + "2")));
      String session = started.getString("session_id");
      assertTrue(session != null, started::encode);
      await(() -> sleeping(marker + "2").size() == 1 && !inACell(sleeping(marker + "2").get(0)),
          "the session did not leave its cell");
      JsonObject closed = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
        try {
          return c.call(new JsonObject().put("id", "c").put("type", "shell_close")
              .put("session_id", session));
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }).get(BOUND_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
      assertEquals(137, closed.getInteger("exit_code"), closed::encode);
      await(() -> withArg(marker + "1").isEmpty() && withArg(marker + "2").isEmpty(),
          () -> "left running: " + withArg(marker + "1") + withArg(marker + "2"));
    }
  }

  /** The agent's subtrees (v2, then v1 pids where there is one), without its own leaf. */
  private static List<Path> subtrees(AgentProcess agent) throws IOException {
    return bases(agent).stream().filter(b -> !b.getFileName().toString().endsWith(".self"))
        .toList();
  }

  /** Loops until the shell's cgroup is no longer the agent's own leaf, then prints it. */
  private static final String PRINT_CELL = "for i in $(seq 10000); do "
      + "c=$(sed -n 's/^0:://p' /proc/self/cgroup); case $c in *.self) ;; *) break;; esac; "
      + "done; echo \"$c\"; sed -n 's/^[0-9]*:pids://p' /proc/self/cgroup";

  @Test
  void cellNamesMadeByOthersArePassedOverForOnesNobodyCanGuess() throws Exception {
    try (AgentProcess agent = cgroupAgent("48");
        AgentConnection c = AgentConnection.open(agent.unix())) {
      // The first run makes the agent's subtrees and run.1, which the next runs may take again.
      assertEquals(0, c.call(run("first", "true")).getInteger("exit_code"));
      // What a run in the VM could do: take the names of the next cells.
      for (Path base : subtrees(agent)) {
        for (int i = 2; i <= 21; i++) {
          Files.createDirectory(base.resolve("run." + i));
        }
      }
      // Three at once: at most one takes run.1 again, the others need new cells.
      List<AgentConnection> conns = new ArrayList<>();
      try {
        for (int i = 0; i < 3; i++) {
          AgentConnection k = AgentConnection.open(agent.unix());
          conns.add(k);
          k.send(run("r" + i, "sh", "-c", PRINT_CELL + "; sleep 2"));
        }
        int fresh = 0;
        for (AgentConnection k : conns) {
          JsonObject r = k.receive();
          String[] lines = r.getString("stdout").split("\n");
          assertTrue(lines[0].matches(".*/run\\.(1|\\d+\\.[0-9a-f]+)"), r::encode);
          fresh += lines[0].endsWith("/run.1") ? 0 : 1;
          // Its own pids.max, where it is counted.
          String pids = lines.length > 1 ? "/sys/fs/cgroup/pids" + lines[1]
              : "/sys/fs/cgroup/unified" + lines[0];
          assertEquals("48", Files.readString(Path.of(pids, "pids.max")).trim(), r::encode);
        }
        assertTrue(fresh >= 2, "runs in a cell of a new name: " + fresh);
      } finally {
        for (AgentConnection k : conns) {
          k.close();
        }
      }
      for (Path base : subtrees(agent)) {
        for (int i = 2; i <= 21; i++) {
          Files.delete(base.resolve("run." + i));
        }
      }
    }
  }

  @Test
  void aRunWithoutACgroupIsNeverMovedIntoAnotherRunsCell() throws Exception {
    String marker = "72." + ProcessHandle.current().pid();
    try (AgentProcess agent = cgroupAgent("4096");
        AgentConnection first = AgentConnection.open(agent.unix());
        AgentConnection second = AgentConnection.open(agent.unix())) {
      first.send(run("a", "sleep", marker + "1").put("timeout_ms", 3000));
      await(() -> sleeping(marker + "1").size() == 1 && inACell(sleeping(marker + "1").get(0)),
          "the first run is not in its cell");
      // No more cgroups can be made under the agent's subtree: the next run gets none.
      Path base = subtrees(agent).get(0);
      String count = Files.readAllLines(base.resolve("cgroup.stat")).get(0).split(" ")[1];
      Files.writeString(base.resolve("cgroup.max.descendants"), count);
      second.send(run("b", "sleep", marker + "2"));
      await(() -> sleeping(marker + "2").size() == 1, "the second run did not start");
      JsonObject a = first.receive();
      assertEquals(124, a.getInteger("exit_code"), a::encode);
      // The first run's kill took its cell, and only its cell.
      assertEquals(1, sleeping(marker + "2").size(), "the second run died with the first");
      assertFalse(inACell(sleeping(marker + "2").get(0)), cgroupOf(sleeping(marker + "2").get(0)));
      second.close();
      await(() -> withArg(marker + "2").isEmpty(), "left running after its connection closed");
    }
  }

  @Test
  void runsOneAfterAnotherReuseAFewCgroupsAndAnIdleAgentKeepsNone() throws Exception {
    int runs = 60;
    try (AgentProcess agent = cgroupAgent("4096");
        AgentConnection c = AgentConnection.open(agent.unix())) {
      int highest = 0;
      int seen = 0;
      Pattern cell = Pattern.compile("0::.*/run\\.(\\d+)\n");
      for (int i = 0; i < runs; i++) {
        // A run may start before its move (the child runs on the other CPU meanwhile): it
        // waits to be in its cell before it reads which one.
        JsonObject r = c.call(run("r" + i, "sh", "-c", PLACED + "cat /proc/$$/cgroup"));
        assertEquals(0, r.getInteger("exit_code"), r::encode);
        Matcher m = cell.matcher(r.getString("stdout"));
        if (m.find()) {
          highest = Math.max(highest, Integer.parseInt(m.group(1)));
          seen++;
        }
      }
      assertEquals(runs, seen, "runs seen in a cell");
      // Each cgroup made is numbered: a cgroup per run would reach run.60. The emptied ones are
      // taken again while runs keep coming.
      int made = highest;
      assertTrue(made <= runs / 2, () -> "cgroups made for " + runs + " runs: " + made);
      // Once no run came for a while, the spares are removed too.
      await(() -> runCells(agent).isEmpty(), "cgroups left: " + runCells(agent));
    }
  }

  /**
   * Code in the VM (root) removes every empty cgroup of the agent's, over and over: the spare
   * cells and the new ones between their making and the clone into them. Such a clone is refused,
   * the start goes to a spawning thread, and the run is answered with its output or the clear
   * error of a child that cannot be put in its cell; nothing hangs, and once the removals stop,
   * every run starts again and no cell is left.
   */
  @Test
  void cellsRemovedByCodeInTheVmFailNoRunSilentlyAndHoldUpNothing() throws Exception {
    try (AgentProcess agent = cgroupAgent("4096");
        AgentConnection c = AgentConnection.open(agent.unix());
        AgentConnection hostile = AgentConnection.open(agent.unix())) {
      assertEquals(0, c.call(run("first", "true")).getInteger("exit_code"));
      StringBuilder cells = new StringBuilder();
      for (Path base : subtrees(agent)) {
        cells.append(' ').append(base).append("/run.*");
      }
      // Its own cell is not empty, so it stays; its timeout ends it.
      hostile.send(run("rm", "sh", "-c", "while :; do for d in" + cells
          + "; do rmdir \"$d\" 2>/dev/null; done; done").put("timeout_ms", 4000));
      int ok = 0;
      for (int i = 0; i < 300; i++) {
        JsonObject r = c.call(run("r" + i, "/bin/echo", "ok"));
        if (r.containsKey("error")) {
          assertTrue(r.getString("error").startsWith(
              "Failed to run command: /bin/echo: cannot move the process into its cgroup: "),
              r::encode);
        } else {
          assertEquals(0, r.getInteger("exit_code"), r::encode);
          assertEquals("ok\n", r.getString("stdout"), r::encode);
          ok++;
        }
      }
      assertTrue(ok > 0, "no run started while cells were removed");
      JsonObject rm = hostile.receive();
      assertEquals(124, rm.getInteger("exit_code"), rm::encode);
      for (int i = 0; i < 20; i++) {
        JsonObject r = c.call(run("after" + i, "/bin/echo", "ok"));
        assertEquals("ok\n", r.getString("stdout"), r::encode);
      }
      await(() -> runCells(agent).isEmpty(), "cgroups left: " + runCells(agent));
    }
  }

  /** Each child moves itself into its cell before its exec (the exec helper). */
  @Test
  void everyRunAndSessionRunsItsFirstCommandInItsCell() throws Exception {
    firstCommandsInTheirCells(cgroupAgent("4096"), "spawn_placement engine=exec_helper");
  }

  /** Where the exec helper cannot be used: each spawning thread's gate holds its children. */
  @Test
  void withTheGateEveryRunAndSessionRunsItsFirstCommandInItsCell() throws Exception {
    firstCommandsInTheirCells(gatedAgent(List.of()), "spawn_gate ");
  }

  private void firstCommandsInTheirCells(AgentProcess launched, String engine) throws Exception {
    // Four connections at once, so that both spawning threads spawn: each run reads its own
    // cgroup as its first command, without waiting to be placed. A move after the spawn loses
    // that race on this machine for some of them.
    int connections = 4;
    int perConnection = 50;
    try (AgentProcess agent = launched) {
      List<java.util.concurrent.CompletableFuture<List<String>>> all = new ArrayList<>();
      for (int k = 0; k < connections; k++) {
        int conn = k;
        all.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> {
          List<String> seen = new ArrayList<>();
          try (AgentConnection c = AgentConnection.open(agent.unix())) {
            for (int i = 0; i < perConnection; i++) {
              JsonObject r = c.call(run("f" + conn + "." + i, "cat", "/proc/self/cgroup"));
              seen.add(r.getString("stdout", r.encode()));
            }
          } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
          }
          return seen;
        }));
      }
      List<String> outside = new ArrayList<>();
      int runs = 0;
      for (var f : all) {
        for (String out : f.get(BOUND_MS, java.util.concurrent.TimeUnit.MILLISECONDS)) {
          runs++;
          if (!out.matches("(?s).*0::[^\\n]*/run\\.\\d+\\n.*")) {
            outside.add(out);
          }
        }
      }
      assertEquals(connections * perConnection, runs);
      // With the agent's word on placing, should one have been missed.
      assertEquals(List.of(), outside, () -> "runs whose first command ran outside their cell; "
          + String.join("\n", agent.log().stream().filter(l -> l.contains("spawn_")
              || l.contains("cgroup_")).toList()));
      // Sessions too: each shell writes where it is as soon as it starts.
      Path dir = Files.createTempDirectory(tmp, "first");
      try (AgentConnection c = AgentConnection.open(agent.unix())) {
        for (int i = 0; i < 10; i++) {
          JsonObject started = c.call(new JsonObject().put("id", "s" + i).put("type", "shell")
              .put("command", new JsonArray().add("sh").add("-c")
                  .add("sed -n 's/^0:://p' /proc/$$/cgroup > " + dir.resolve("s" + i)
                      + "; exec sleep 30")));
          assertTrue(started.getString("session_id") != null, started::encode);
        }
        for (int i = 0; i < 10; i++) {
          Path f = dir.resolve("s" + i);
          await(() -> Files.exists(f) && f.toFile().length() > 0, "session " + f + " is silent");
          String where = Files.readString(f).trim();
          assertTrue(where.matches(".*/shell\\.\\d+"), "session " + i + " started in " + where);
        }
      }
      agent.awaitLog(engine + " in use", l -> l.contains(engine));
      // Nothing ever ran in the agent's own leaf, so nothing had to be brought back from it.
      assertTrue(agent.log().stream().noneMatch(l -> l.contains("cgroup_stray_moved")),
          () -> String.join("\n", agent.log().stream()
              .filter(l -> l.contains("cgroup_stray_moved")).toList()));
    }
  }

  @Test
  void twoHundredRunsAreKilledWhenTheirConnectionsCloseOnTheCgroupPath() throws Exception {
    twoHundredRuns(cgroupAgent("4096"), "65." + ProcessHandle.current().pid());
  }

  @Test
  void twoHundredRunsAreKilledWhenTheirConnectionsCloseOnTheProcPath() throws Exception {
    twoHundredRuns(procAgent(), "66." + ProcessHandle.current().pid());
  }

  private void twoHundredRuns(AgentProcess started, String marker) throws Exception {
    try (AgentProcess agent = started) {
      List<AgentConnection> conns = new ArrayList<>();
      try {
        for (int i = 0; i < 200; i++) {
          AgentConnection c = AgentConnection.open(agent.unix());
          conns.add(c);
          c.send(run("s" + i, "sleep", marker));
        }
        await(() -> withArg(marker).size() == 200, "not all 200 started: "
            + withArg(marker).size());
      } finally {
        for (AgentConnection c : conns) {
          c.close();
        }
      }
      await(() -> withArg(marker).isEmpty(), "left running: " + withArg(marker).size());
      await(() -> zombies(agent.pid()) == 0, "zombies left: " + zombies(agent.pid()));
      await(() -> runCells(agent).isEmpty(), "cgroups left: " + runCells(agent));
      if (!bases(agent).isEmpty()) {
        // With cgroups, killing what stayed in its cell reads /proc once per cell at most, and
        // never scans it.
        agent.awaitLog("a kill_batch line", l -> l.contains("kill_batch"));
        List<String> batches = agent.log().stream().filter(l -> l.contains("kill_batch")).toList();
        for (String b : batches) {
          assertTrue(b.contains("swept_trees=0") && b.contains("proc_scans=0"), b);
        }
      }
    }
  }

  @Test
  void onTheProcPathARunsWholeConnectionIsKilledInOneBatchOfFewScans() throws Exception {
    String marker = "67." + ProcessHandle.current().pid();
    try (AgentProcess agent = procAgent()) {
      try (AgentConnection c = AgentConnection.open(agent.unix())) {
        for (int i = 0; i < 50; i++) {
          c.send(run("s" + i, "sh", "-c", "sleep " + marker + " & sleep " + marker));
        }
        await(() -> withArg(marker).size() == 100, "not all started: " + withArg(marker).size());
      }
      await(() -> withArg(marker).isEmpty(), "left running: " + withArg(marker).size());
      Pattern batch = Pattern.compile("kill_batch .*swept_trees=50 .*proc_scans=(\\d+)");
      await(() -> agent.log().stream().anyMatch(l -> batch.matcher(l).find()),
          "no batch of 50: " + agent.log());
      for (String line : agent.log()) {
        Matcher m = batch.matcher(line);
        if (m.find()) {
          // Stopping the trees takes a pass, and one more finds nothing new: not 50 passes.
          assertTrue(Integer.parseInt(m.group(1)) <= 3, line);
        }
      }
    }
  }

  @Test
  void whereCgroupV2IsNotMountedTheAgentMountsItAndUsesIt() throws Exception {
    // A mount namespace of its own, where an empty tmpfs hides the host's cgroup mounts.
    String marker = "68." + ProcessHandle.current().pid();
    Path dir = Files.createTempDirectory(tmp, "containment");
    List<String> wrapper = List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
        "mount -t tmpfs none /sys/fs/cgroup && exec \"$@\"", "sh");
    try (AgentProcess agent = AgentProcess.launchWrapped(dir, wrapper, List.of("--listen",
        "unix:" + dir.resolve("agent.sock")), Map.of()).awaitReady();
        AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject r = c.call(escapees("m", marker).put("timeout_ms", 3000));
      assertEquals(124, r.getInteger("exit_code"), r::encode);
      agent.awaitLog("cgroup v2 mounted", l -> l.contains("cgroup_mounted path=/sys/fs/cgroup"));
      assertEngine(agent, "cgroup");
      await(() -> withArg(marker).isEmpty(), "escapees outlived the timeout: " + withArg(marker));
    }
  }

  private static void shutdown(AgentProcess agent) throws Exception {
    try (AgentConnection c = AgentConnection.open(agent.unix())) {
      c.call(new JsonObject().put("id", "bye").put("type", "shutdown"));
    }
    assertEquals(0, agent.awaitExit(30));
  }

  private static void assertEngine(AgentProcess agent, String engine)
      throws InterruptedException {
    agent.awaitLog("the " + engine + " engine",
        l -> l.contains("containment engine=" + engine));
  }

  private static void await(BooleanSupplier cond, String what) throws InterruptedException {
    support.Poll.until(what, BOUND_MS, cond);
  }

  /** {@link #await} with a message made when it fails, to show the state then. */
  private static void await(BooleanSupplier cond, java.util.function.Supplier<String> what)
      throws InterruptedException {
    try {
      support.Poll.until("", BOUND_MS, cond);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + what.get(), e);
    }
  }

  /** The cgroup v2 path of {@code pid}, or "" once it is gone. */
  private static String cgroupOf(long pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/cgroup"))) {
        if (line.startsWith("0::")) {
          return line.substring(3);
        }
      }
    } catch (IOException e) {
      // Gone.
    }
    return "";
  }

  /** The pids.events file of the cgroup that limits {@code pid}'s process count. */
  private static Path pidsEvents(long pid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/cgroup"))) {
      String[] f = line.split(":", 3);
      if (f[1].equals("pids")) {
        return Path.of("/sys/fs/cgroup/pids" + f[2], "pids.events");
      }
    }
    // pids in cgroup v2.
    return Path.of("/sys/fs/cgroup/unified" + cgroupOf(pid), "pids.events");
  }

  /** The agent's cgroup subtrees (v2, and v1 pids where there is one). */
  private static List<Path> bases(AgentProcess agent) throws IOException {
    List<Path> out = new ArrayList<>();
    for (Path root : List.of(Path.of("/sys/fs/cgroup/unified"), Path.of("/sys/fs/cgroup/pids"))) {
      if (!Files.isDirectory(root)) {
        continue;
      }
      try (DirectoryStream<Path> d = Files.newDirectoryStream(root,
          "agent." + agent.pid() + ".*")) {
        d.forEach(out::add);
      }
    }
    return out;
  }

  /** The run and session cgroups the agent has now, in both hierarchies. */
  private static List<Path> runCells(AgentProcess agent) {
    List<Path> out = new ArrayList<>();
    try {
      for (Path base : bases(agent)) {
        if (!Files.isDirectory(base)) {
          continue;
        }
        try (DirectoryStream<Path> d = Files.newDirectoryStream(base, "{run,shell}.*")) {
          d.forEach(out::add);
        }
      }
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    return out;
  }

  private static List<Long> withArg(String arg) {
    return ProcessTreeTest.withArg(arg);
  }

  /** The processes with {@code arg} as an argument that have exec'd sleep. */
  private static List<Long> sleeping(String arg) {
    List<Long> out = new ArrayList<>();
    for (long pid : withArg(arg)) {
      try {
        String argv0 = new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline")))
            .split("\0", 2)[0];
        if (argv0.equals("sleep") || argv0.endsWith("/sleep")) {
          out.add(pid);
        }
      } catch (IOException e) {
        // Gone.
      }
    }
    return out;
  }

  private static int zombies(long parent) {
    int n = 0;
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path p : dir) {
        ProcStat f = ProcStat.read(Long.parseLong(p.getFileName().toString()));
        if (f != null && f.zombie() && f.ppid() == parent) {
          n++;
        }
      }
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    return n;
  }
}
