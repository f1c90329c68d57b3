package cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import client.AgentClient;
import client.ShellRequest;
import client.ShellSession;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;
import support.SharedAgent;

/** agentctl as a user runs it: bin/agentctl as a process, against an agent process. */
class AgentCtlTest {
  @RegisterExtension
  static final SharedAgent agent = new SharedAgent();

  @TempDir
  Path tmp;

  static Ctl.Result ctl(String... args) throws Exception {
    return Ctl.run(agent.tcp(), null, args);
  }

  @Test
  void pingAnswers() throws Exception {
    Ctl.Result r = ctl("ping");
    assertEquals(0, r.exit(), r::toString);
    assertTrue(r.out().startsWith("ok: " + agent.tcp()), r::toString);
  }

  @Test
  void runExitsWithTheStatusAndKeepsTheStreamsApart() throws Exception {
    Ctl.Result r = ctl("run", "--", "sh", "-c", "echo out; echo err >&2; exit 7");
    assertEquals(7, r.exit(), r::toString);
    assertEquals("out\n", r.out());
    assertEquals("err\n", r.err());

    // Raw bytes, not text; and without "--" the command still starts at the first word.
    Ctl.Result bin = ctl("run", "printf", "\\377\\000\\001");
    assertEquals(0, bin.exit(), bin::toString);
    assertArrayEquals(new byte[] {(byte) 0xFF, 0, 1}, bin.stdout());
  }

  @Test
  void runHonoursCwdAndEnv() throws Exception {
    Path dir = Files.createDirectory(tmp.resolve("work dir"));
    Ctl.Result r = ctl("run", "--cwd", dir.toString(), "--env", "GREETING=hello there",
        "-e", "OTHER=x=y", "--", "sh", "-c", "pwd; echo \"$GREETING\"; echo \"$OTHER\"");
    assertEquals(0, r.exit(), r::toString);
    assertEquals(dir.toRealPath() + "\nhello there\nx=y\n", r.out());
  }

  @Test
  void runTimeoutExitsWith124() throws Exception {
    long start = System.nanoTime();
    Ctl.Result r = ctl("run", "--timeout", "500ms", "--", "sleep", "30");
    assertEquals(124, r.exit(), r::toString);
    assertTrue(r.err().contains("timed out after 500ms"), r::toString);
    assertTrue(System.nanoTime() - start < 25_000_000_000L, "took far too long");
  }

  @Test
  void runOfAMissingProgramReportsTheAgentsError() throws Exception {
    Ctl.Result r = ctl("run", "--", "/no/such/program");
    assertEquals(125, r.exit(), r::toString);
    // One line: the wire prefix, the program, the system's reason.
    assertTrue(r.err().startsWith("agentctl: Failed to run command: /no/such/program: No such"
        + " file or directory"), r::toString);
    assertEquals(1, r.err().lines().count(), r::toString);
  }

  @Test
  void putAndGetA25MiBFileByteForByte() throws Exception {
    byte[] data = new byte[25 * 1024 * 1024 + 123];
    new Random(42).nextBytes(data);
    Path local = tmp.resolve("big.bin");
    Files.write(local, data);
    Path remote = tmp.resolve("remote/sub/big.bin");

    Ctl.Result put = ctl("put", local.toString(), remote.toString());
    assertEquals(0, put.exit(), put::toString);
    // stderr is not a terminal here: no progress bar.
    assertEquals("", put.err());
    assertEquals(-1, Files.mismatch(local, remote));
    try (var leftovers = Files.list(remote.getParent())) {
      assertEquals(List.of(remote), leftovers.toList(), "no temporary file is left");
    }

    Path back = tmp.resolve("back.bin");
    Ctl.Result get = ctl("get", remote.toString(), back.toString());
    assertEquals(0, get.exit(), get::toString);
    assertEquals("", get.err());
    assertEquals(-1, Files.mismatch(local, back));

    Ctl.Result stat = ctl("stat", remote.toString());
    assertEquals(0, stat.exit(), stat::toString);
    assertTrue(stat.out().contains(": file, " + data.length + " bytes"), stat::toString);
  }

  @Test
  void putAndGetAnEmptyFile() throws Exception {
    Path local = Files.createFile(tmp.resolve("empty"));
    Path remote = tmp.resolve("empty-remote");
    assertEquals(0, ctl("put", local.toString(), remote.toString()).exit());
    assertEquals(0, Files.size(remote));
    Path back = tmp.resolve("empty-back");
    assertEquals(0, ctl("get", remote.toString(), back.toString()).exit());
    assertEquals(0, Files.size(back));
  }

  @Test
  void aRefusedPathIsReportedInTheAgentsWords() throws Exception {
    Path local = tmp.resolve("x");
    Ctl.Result r = ctl("get", "/etc/shadow", local.toString());
    assertEquals(1, r.exit(), r::toString);
    assertEquals("agentctl: Cannot access system path: /etc/shadow\n", r.err());
    assertFalse(Files.exists(local));

    Ctl.Result missing = ctl("stat", tmp.resolve("nothing-here").toString());
    assertEquals(1, missing.exit(), missing::toString);
    assertTrue(missing.err().startsWith("agentctl: Failed to stat file: "), missing::toString);
  }

  @Test
  void mkdirLsAndRm() throws Exception {
    Path dir = tmp.resolve("a/b/c");
    Ctl.Result noParents = ctl("mkdir", dir.toString());
    assertEquals(1, noParents.exit(), noParents::toString);
    assertTrue(noParents.err().startsWith("agentctl: Failed to create directory: "));

    assertEquals(0, ctl("mkdir", "-p", dir.toString()).exit());
    Files.writeString(dir.resolve("f.txt"), "hi");
    Ctl.Result ls = ctl("ls", dir.getParent().toString());
    assertEquals("c/\n", ls.out(), ls::toString);
    Ctl.Result lsl = ctl("ls", "-l", dir.toString());
    assertTrue(Pattern.compile("^-rw\\S+ +2 .* f\\.txt$").matcher(lsl.out().trim()).matches(),
        lsl::toString);

    Ctl.Result notRecursive = ctl("rm", tmp.resolve("a").toString());
    assertEquals(1, notRecursive.exit(), notRecursive::toString);
    // The agent's prefix and path, with agentctl's own flag instead of the wire field.
    assertEquals("agentctl: Failed to remove file: Is a directory (use rm -r): "
        + tmp.resolve("a") + "\n", notRecursive.err());
    assertEquals(0, ctl("rm", "-r", tmp.resolve("a").toString()).exit());
    assertFalse(Files.exists(tmp.resolve("a")));
  }

  @Test
  void pipedShellPrintsOnlyWhatTheScriptPrints() throws Exception {
    // As `ssh -T host < script`: no echo of the input, no prompt, LF line endings.
    Ctl.Result r = Ctl.run(agent.tcp(), "echo hi\nexit 3\n".getBytes(StandardCharsets.UTF_8),
        "shell");
    assertEquals(3, r.exit(), r::toString);
    assertArrayEquals("hi\n".getBytes(StandardCharsets.UTF_8), r.stdout(), r::toString);
    assertArrayEquals(new byte[0], r.stderr(), r::toString);

    // stderr stays apart, raw bytes pass unchanged, and --cwd, --env and CMD apply.
    Path dir = Files.createDirectory(tmp.resolve("script dir"));
    Ctl.Result more = Ctl.run(agent.tcp(), ("pwd\necho \"$GREETING\"\necho oops >&2\n"
        + "printf '\\377\\r\\n'\n").getBytes(StandardCharsets.UTF_8),
        "shell", "--cwd", dir.toString(), "-e", "GREETING=hello", "--", "/bin/bash");
    assertEquals(0, more.exit(), more::toString);
    byte[] expected = (dir.toRealPath() + "\nhello\n").getBytes(StandardCharsets.UTF_8);
    byte[] tail = {(byte) 0xFF, '\r', '\n'};
    byte[] all = java.util.Arrays.copyOf(expected, expected.length + tail.length);
    System.arraycopy(tail, 0, all, expected.length, tail.length);
    assertArrayEquals(all, more.stdout(), more::toString);
    assertEquals("oops\n", more.err());

    // Empty input: the shell reads end of file at once and exits 0.
    Ctl.Result empty = Ctl.run(agent.tcp(), null, "shell");
    assertEquals(0, empty.exit(), empty::toString);
    assertEquals("", empty.out() + empty.err());
  }

  @Test
  void sessionsListsAndAttachJoinsASession() throws Exception {
    // A session started through the client library, whose owner then goes away.
    ByteArrayOutputStream seen = new ByteArrayOutputStream();
    CompletableFuture<Void> greeted = new CompletableFuture<>();
    String id;
    try (AgentClient c = AgentClient.connect(agent.unix())) {
      ShellSession s = AgentClient.await(c.shell(new ShellRequest(
          List.of("sh", "-c", "echo before-attach; read line; echo \"got $line\"; exit 5"),
          24, 80, null, Map.of()), data -> {
            seen.writeBytes(data);
            if (seen.toString(StandardCharsets.UTF_8).contains("before-attach")) {
              greeted.complete(null);
            }
          }));
      id = s.id();
      greeted.get(30, TimeUnit.SECONDS);
    }

    Ctl.Result list = ctl("sessions");
    assertEquals(0, list.exit(), list::toString);
    assertTrue(list.out().contains(id + "  running"), list::toString);

    Ctl.Result attach = Ctl.run(agent.tcp(), "later\n".getBytes(StandardCharsets.UTF_8),
        "attach", id);
    assertEquals(5, attach.exit(), attach::toString);
    assertTrue(Pattern.compile("(?m)^got later\\r?$").matcher(attach.out()).find(),
        attach::toString);

    Ctl.Result gone = ctl("attach", "no-such-session");
    assertEquals(125, gone.exit(), gone::toString);
    assertEquals("agentctl: Failed to attach session: Session not found: no-such-session\n",
        gone.err());
  }

  @Test
  void tokenIsSentAndARefusalIsReported(@TempDir Path dir) throws Exception {
    try (AgentProcess guarded = AgentProcess.launch(dir, List.of("--listen", "tcp://127.0.0.1:0"),
        Map.of("AGENT_AUTH_TOKEN", "s3cret")).awaitReady()) {
      Ctl.Result without = Ctl.run(guarded.tcp(), null, "ping");
      assertNotEquals(0, without.exit(), without::toString);
      assertEquals("agentctl: Unauthorized\n", without.err());
      Ctl.Result with = Ctl.run(guarded.tcp(), null, "--token", "s3cret", "ping");
      assertEquals(0, with.exit(), with::toString);
    }
  }

  @Test
  void vsockAddressFailsClearlyWithoutAPeer() throws Exception {
    Ctl.Result r = ctl("-c", "vsock://3:52000", "ping");
    assertEquals(1, r.exit(), r::toString);
    assertTrue(r.err().startsWith("agentctl: cannot connect to vsock://3:52000: "), r::toString);
  }

  @Test
  void badCommandLinesExitWith2() throws Exception {
    Ctl.Result r = ctl("run", "--timeout", "soon", "--", "true");
    assertEquals(2, r.exit(), r::toString);
    assertTrue(r.err().contains("not a duration"), r::toString);
    Ctl.Result addr = ctl("-c", "http://x", "ping");
    assertEquals(2, addr.exit(), addr::toString);
    assertTrue(addr.err().contains("unsupported address http://x"), addr::toString);
  }
}
