package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentConnection;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import support.AgentProcess;

/**
 * How a run's program is found and started, with each way a child is put in its cell before its
 * exec: the exec helper's code (the child moves itself in, looks up its directory and program,
 * and reports a failure), run by a child the agent clones itself, born in its cell's cgroup and
 * not waited for, on the connection's event loop ("clone") or on a spawning thread ("pooled"),
 * or waited for until its exec ("waited"), or by one
 * {@code posix_spawn} started ("helper"); and the gate (the C library's {@code posix_spawnp} does
 * the look-up). All must answer alike, and the command must get nothing of the helper's.
 */
class RunStartTest {
  /** The helper's own descriptors (its pipe at 3, the cgroup files from 4) never reach the command. */
  @ParameterizedTest
  @ValueSource(strings = {"clone", "pooled", "waited", "helper", "gate"})
  void aCommandGetsItsStandardStreamsOnlyAndRunsInItsCell(String engine, @TempDir Path dir)
      throws Exception {
    try (AgentProcess agent = start(engine, dir, "/usr/bin:/bin");
        AgentConnection c = AgentConnection.open(agent.unix())) {
      // The shell lists its own descriptors: ls is its child, so what ls opens is not listed.
      JsonObject r = c.call(run("fds", "sh", "-c", "ls /proc/$$/fd; sed -n 's/^0:://p' "
          + "/proc/$$/cgroup"));
      assertEquals(0, r.getInteger("exit_code"), r::encode);
      String[] lines = r.getString("stdout").split("\n");
      assertEquals(List.of("0", "1", "2"), List.of(lines).subList(0, lines.length - 1),
          r::encode);
      assertTrue(lines[lines.length - 1].matches(".*/run\\.\\d+"), r::encode);
      // Every signal at its default and none blocked, whatever the agent's own (a JVM handles
      // and blocks several, and under nohup ignores SIGHUP).
      JsonObject sig = c.call(run("sig", "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"));
      assertEquals("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
          sig.getString("stdout"), sig::encode);
      String helper = "engine=exec_helper detail=\"each child moves itself into its cell, then"
          + " execs its command\" ";
      String marker = switch (engine) {
        case "clone" -> helper + "clone=true into_cell=true on_caller=true";
        case "pooled" -> helper + "clone=true into_cell=true on_caller=false";
        case "waited" -> helper + "clone=true into_cell=false on_caller=false";
        case "helper" -> helper + "clone=false into_cell=false on_caller=false";
        default -> "engine=gate";
      };
      agent.awaitLog("a spawn_placement line with " + marker,
          l -> l.contains("spawn_placement") && l.contains(marker));
    }
  }

  /**
   * The program is looked for along the agent's PATH, as the C library does: a file that may
   * not be run is passed over for a later one, and named only if nothing later is found; a name
   * with a slash is the one path; a file that is no program, a missing program and a missing
   * directory each have their own error.
   */
  @ParameterizedTest
  @ValueSource(strings = {"clone", "pooled", "waited", "helper", "gate"})
  void programsAreFoundAndRefusedAsTheCLibraryWould(String engine, @TempDir Path dir)
      throws Exception {
    Path first = Files.createDirectory(dir.resolve("first"));
    Path second = Files.createDirectory(dir.resolve("second"));
    // In the first directory but not executable: passed over for the second one's.
    Files.writeString(first.resolve("both"), "#!/bin/sh\necho first\n");
    script(second.resolve("both"), "#!/bin/sh\necho second \"$@\"\n");
    // Only a file that may not be run.
    Files.writeString(first.resolve("locked"), "#!/bin/sh\necho locked\n");
    // Executable, but neither a script nor a binary.
    script(second.resolve("garbage"), "\u0001\u0002 not a program\n");
    try (AgentProcess agent = start(engine, dir, first + ":" + second + ":/usr/bin:/bin");
        AgentConnection c = AgentConnection.open(agent.unix())) {
      JsonObject both = c.call(run("both", "both", "a b"));
      assertEquals("second a b\n", both.getString("stdout"), both::encode);
      JsonObject direct = c.call(run("direct", second.resolve("both").toString(), "x"));
      assertEquals("second x\n", direct.getString("stdout"), direct::encode);
      List<String> errors = new ArrayList<>();
      errors.add(c.call(run("locked", "locked")).getString("error"));
      errors.add(c.call(run("missing", "no-such-program-" + engine)).getString("error"));
      errors.add(c.call(run("garbage", "garbage")).getString("error"));
      errors.add(c.call(run("empty", "")).getString("error"));
      errors.add(c.call(run("dir", "true").put("cwd", dir.resolve("none").toString()))
          .getString("error"));
      errors.add(c.call(run("file", "true").put("cwd", second.resolve("both").toString()))
          .getString("error"));
      assertEquals(List.of(
          "Failed to run command: locked: Permission denied (os error 13)",
          "Failed to run command: no-such-program-" + engine
              + ": No such file or directory (os error 2)",
          "Failed to run command: garbage: Exec format error (os error 8)",
          "Failed to run command: : No such file or directory (os error 2)",
          "Failed to run command: cwd " + dir.resolve("none") + ": No such directory: "
              + dir.resolve("none"),
          "Failed to run command: cwd " + second.resolve("both") + ": No such directory: "
              + second.resolve("both")), errors);
      // A failed start leaves no process behind, not even an unreaped one.
      assertEquals(0, support.Procs.children(agent.pid()).count());
      JsonObject cwd = c.call(run("cwd", "pwd").put("cwd", first.toString()));
      assertEquals(first + "\n", cwd.getString("stdout"), cwd::encode);
    }
  }

  /**
   * A session's child leads a session of its own, with its terminal as controlling terminal
   * (opened after its setsid), in its cell, whichever way it was started.
   */
  @ParameterizedTest
  @ValueSource(strings = {"clone", "pooled", "waited", "helper", "gate"})
  void aSessionLeadsItsSessionWithItsTerminalAsControllingTerminal(String engine,
      @TempDir Path dir) throws Exception {
    try (AgentProcess agent = start(engine, dir, "/usr/bin:/bin");
        AgentConnection c = AgentConnection.open(agent.unix())) {
      // Fields 6 and 7 of /proc/PID/stat: the session id and the controlling terminal.
      c.send(new JsonObject().put("id", "s").put("type", "shell").put("command", new JsonArray()
          .add("sh").add("-c").add("read -r l < /proc/$$/stat; set -- $l; echo \"pid=$$ sid=$6"
              + " tty=$7 cell=$(sed -n 's/^0:://p' /proc/$$/cgroup)\"; sleep 30")));
      String text = support.SessionOutput.until(c, out -> out.contains("cell=")
          && out.substring(out.indexOf("cell=")).contains("\n"), 30_000);
      java.util.regex.Matcher m = java.util.regex.Pattern
          .compile("pid=(\\d+) sid=(\\d+) tty=(\\d+) cell=(\\S+)").matcher(text);
      assertTrue(m.find(), text);
      assertEquals(m.group(1), m.group(2), "not a session leader: " + text);
      assertTrue(Long.parseLong(m.group(3)) != 0, "no controlling terminal: " + text);
      assertTrue(m.group(4).matches(".*/shell\\.\\d+"), text);
    }
  }

  private static AgentProcess start(String engine, Path dir, String path) throws Exception {
    List<String> jvm = switch (engine) {
      case "pooled" -> List.of("-Dagent.spawn.on_caller.off=true");
      case "waited" -> List.of("-Dagent.spawn.into_cell.off=true");
      case "helper" -> List.of("-Dagent.spawn.clone.off=true");
      case "gate" -> List.of("-Dagent.spawn.exec_helper.off=true");
      default -> List.of();
    };
    // Under nohup, so that the agent itself ignores SIGHUP.
    return AgentProcess.launchWrapped(dir, List.of("nohup"), jvm,
        List.of("--listen", "unix:" + dir.resolve("agent.sock")),
        Map.of("PATH", path, "AGENT_PIDS_MAX", "4096")).awaitReady();
  }

  private static void script(Path file, String text) throws Exception {
    Files.writeString(file, text);
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  private static JsonObject run(String id, String... command) {
    return new JsonObject().put("id", id).put("type", "run")
        .put("command", new JsonArray(List.of((Object[]) command)));
  }
}
