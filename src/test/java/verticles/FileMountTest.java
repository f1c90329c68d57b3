package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static verticles.ProtocolSupport.b64;
import static verticles.ProtocolSupport.error;
import static verticles.ProtocolSupport.req;
import static verticles.ProtocolSupport.run;

import client.AgentConnection;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import support.AgentProcess;

/**
 * The path rule against what code in the VM can mount, with an agent in a mount namespace of its
 * own (mounts made by its runs stay there): a blocked file that does not exist yet cannot be made
 * through a link, a recursive remove does not empty what is mounted inside the tree, and the
 * kernel's own file systems are refused wherever they are mounted. Every mount here lives only
 * in the namespace and is gone with the agent, and nothing is mounted over what the host uses.
 */
class FileMountTest {
  @TempDir
  Path tmp;

  private AgentProcess agent;
  private AgentConnection c;

  @BeforeEach
  void start() throws Exception {
    agent = AgentProcess.launchWrapped(tmp, List.of("unshare", "--mount", "--propagation",
        "private"), List.of("--listen", "unix:" + tmp.resolve("agent.sock")), Map.of())
        .awaitReady();
    c = AgentConnection.open(agent.unix());
  }

  @AfterEach
  void stop() throws Exception {
    if (c != null) {
      c.close();
    }
    // Ending the namespace's only process ends its mounts.
    agent.close();
  }

  private static String system(String prefix) {
    return "Cannot access system path: " + prefix;
  }

  /** Runs {@code script} with sh in the agent's namespace and checks that it succeeded. */
  private void sh(String script) throws Exception {
    JsonObject r = c.call(run("sh", "sh", "-c", script));
    assertEquals(0, r.getInteger("exit_code"), r::encode);
  }

  @Test
  void aBlockedFileThatDoesNotExistCannotBeMadeThroughALink() throws Exception {
    // In the namespace /etc is an empty folder of the test's: none of the blocked files exist.
    Path etc = Files.createDirectory(tmp.resolve("etc"));
    sh("mount --bind " + etc + " /etc");
    Path link = Files.createSymbolicLink(tmp.resolve("l"), Path.of("/etc/gshadow-"));
    Path etcLink = Files.createSymbolicLink(tmp.resolve("e"), Path.of("/etc"));
    assertEquals(error("w", system("/etc/gshadow-")), c.call(req("w", "write_file")
        .put("path", link.toString()).put("content_base64", b64("root::0:0::\n"))));
    assertEquals(error("a", system("/etc/shadow-")), c.call(req("a", "write_file")
        .put("path", etcLink + "/shadow-").put("content_base64", b64("x")).put("append", true)));
    assertEquals(error("m", system("/etc/gshadow-")), c.call(req("m", "mkdir")
        .put("path", etcLink + "/gshadow-")));
    assertEquals(error("p", system("/etc/gshadow-")), c.call(req("p", "write_file")
        .put("path", etcLink + "/gshadow-/sub").put("content_base64", b64("x"))));
    assertEquals(error("r", system("/etc/passwd")), c.call(req("r", "mkdir")
        .put("path", etcLink + "/passwd/x").put("recursive", true)));
    try (var left = Files.list(etc)) {
      assertEquals(List.of(), left.toList(), "nothing was made in /etc");
    }
    // What is not blocked is still made the same way.
    assertEquals(0, c.call(req("ok", "write_file").put("path", etcLink + "/hosts")
        .put("content_base64", b64("x"))).getInteger("exit_code"));
    assertTrue(Files.exists(etc.resolve("hosts")));
  }

  @Test
  void aRecursiveRemoveDoesNotEmptyWhatIsMountedInTheTree() throws Exception {
    Path victim = Files.createDirectories(tmp.resolve("victim/sub"));
    Files.writeString(victim.resolve("canary"), "keep");
    Files.writeString(tmp.resolve("victim/canary"), "keep");
    Path tree = Files.createDirectories(tmp.resolve("tree/a"));
    Files.writeString(tree.resolve("file"), "x");
    Path mountPoint = Files.createDirectory(tree.resolve("m"));
    sh("mount --bind " + tmp.resolve("victim") + " " + mountPoint);
    for (Path p : List.of(tmp.resolve("tree"), mountPoint)) {
      JsonObject r = c.call(req("rm", "remove_file").put("path", p.toString())
          .put("recursive", true));
      assertTrue(r.getString("error", "").startsWith("Failed to remove file: "), r::encode);
      assertTrue(r.getString("error").contains("a mount point"), r::encode);
    }
    assertEquals("keep", Files.readString(tmp.resolve("victim/canary")));
    assertEquals("keep", Files.readString(victim.resolve("canary")));
    sh("umount " + mountPoint);
    // Unmounted, the same tree goes whole.
    assertEquals(0, c.call(req("rm", "remove_file").put("path", tmp.resolve("tree").toString())
        .put("recursive", true)).getInteger("exit_code"));
    assertFalse(Files.exists(tmp.resolve("tree")));
    assertTrue(Files.exists(tmp.resolve("victim/canary")));
  }

  @Test
  void theKernelsOwnFileSystemsAreRefusedWhereverTheyAreMounted() throws Exception {
    Path cg = Files.createDirectory(tmp.resolve("cg"));
    Path pts = Files.createDirectory(tmp.resolve("pts"));
    sh("mount -t cgroup2 none " + cg + " && mount -t devpts -o newinstance none " + pts);
    assertEquals(error("l", system("/sys")),
        c.call(req("l", "list_dir").put("path", cg.toString())));
    assertEquals(error("r", system("/sys")),
        c.call(req("r", "read_file").put("path", cg + "/cgroup.procs")));
    assertEquals(error("m", system("/sys")),
        c.call(req("m", "mkdir").put("path", cg + "/agent-test")));
    assertEquals(error("d", system("/dev")),
        c.call(req("d", "list_dir").put("path", pts.toString())));
  }
}
