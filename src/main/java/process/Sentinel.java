package process;

import com.sun.jna.Memory;
import log.Log;
import sys.LibC;

/**
 * A child of the agent's own that does nothing, so that the {@link Reaper} always has a child to
 * wait for. Without one, the reaper finds no child at all between two runs, parks, and the next
 * start must wake it: two sleeps and a wake-up of that thread per run instead of one sleep.
 *
 * <p>The sentinel is a program of a few dozen bytes (x86-64, from a sealed memfd, like the
 * {@link ExecHelper}). It names itself {@value #NAME} and reads its stdin, a pipe whose only
 * writer is the agent, until that ends: it never runs anything of the VM's, costs no CPU, and
 * exits however the agent ends, a SIGKILL included, since the kernel closes the agent's end then.
 * It has a session of its own and holds no other descriptor.
 *
 * <p>The reaper starts it, on its own thread, and starts it again after code in the VM killed
 * it, at most once a second ({@link #RESTART_NS}) and only once the reaper has found the agent
 * without any child (a kill in a loop then costs the agent one spawn a second). Shutdown
 * {@linkplain #end ends} it first. Where the program cannot be used (another architecture, a
 * kernel that refuses to exec a memfd, {@code -Dagent.sentinel.off=true}), there is no sentinel
 * and the reaper parks between runs.
 */
public final class Sentinel {
  /** What the sentinel calls itself ({@code comm} and argv[0]). */
  public static final String NAME = "agent-sentinel";
  /** The least time between two starts. */
  static final long RESTART_NS = 1_000_000_000L;
  private static final boolean OFF = Boolean.getBoolean("agent.sentinel.off");
  /** The errors of a start that may succeed later: EINTR, EAGAIN, ENOMEM, ENFILE, EMFILE. */
  private static final java.util.Set<Integer> TRANSIENT = java.util.Set.of(4, 11, 12, 23, 24);

  /**
   * The program, from this assembly (GNU syntax; x86-64 Linux system calls: 0 read, 157 prctl,
   * 231 exit_group).
   */
  private static final String CODE = ""
      // prctl(PR_SET_NAME, name)
      + "b89d000000"             // 0000 mov $0x9d,%eax
      + "bf0f000000"             // 0005 mov $0xf,%edi
      + "488d3526000000"         // 000a lea 0x26(%rip),%rsi
      + "0f05"                   // 0011 syscall
      // read(0, a byte below the stack, 1) until it ends (0) or fails other than EINTR
      + "31c0"                   // 0013 xor %eax,%eax
      + "31ff"                   // 0015 xor %edi,%edi
      + "488d7424f0"             // 0017 lea -0x10(%rsp),%rsi
      + "ba01000000"             // 001c mov $0x1,%edx
      + "0f05"                   // 0021 syscall
      + "4883f8fc"               // 0023 cmp $0xfffffffffffffffc,%rax
      + "74ea"                   // 0027 je 0x13
      + "4885c0"                 // 0029 test %rax,%rax
      + "7fe5"                   // 002c jg 0x13
      // exit_group(0)
      + "b8e7000000"             // 002e mov $0xe7,%eax
      + "31ff"                   // 0033 xor %edi,%edi
      + "0f05"                   // 0035 syscall
      // 0037: the name, NUL-terminated
      + java.util.HexFormat.of().formatHex((NAME + "\0").getBytes(
          java.nio.charset.StandardCharsets.US_ASCII));

  /** The sentinel's pid, 0 while none runs. */
  private static volatile int pid;
  /** The agent's end of the sentinel's stdin, -1 while none runs. */
  private static int lifeline = -1;
  private static long startedAt;
  private static boolean started;
  private static boolean unusable;
  private static boolean ended;

  private Sentinel() {}

  /** Whether {@code p} is the sentinel: it is no run's or session's, and no stray. */
  static boolean is(long p) {
    return p != 0 && p == pid;
  }

  /** Whether a sentinel runs now. */
  static boolean running() {
    return pid != 0;
  }

  /**
   * On the reaper thread, which alone waits for children: starts the sentinel unless it runs,
   * cannot be used, is ended, or was started (or tried) less than {@link #RESTART_NS} ago. A start
   * that fails for want of a resource (a full process table, no descriptor or memory left) is
   * tried again later; any other failure means the program cannot be used here.
   */
  static synchronized void ensure() {
    if (pid != 0 || unusable || ended || OFF
        || (started && System.nanoTime() - startedAt < RESTART_NS)) {
      return;
    }
    if (!ExecHelper.x86()) {
      unusable = true;
      return;
    }
    started = true;
    startedAt = System.nanoTime();
    Failure failure;
    try {
      failure = start();
    } catch (LinkageError e) {
      failure = new Failure("spawn", e.toString(), 0);
    }
    if (failure == null) {
      return;
    }
    String detail = failure.step + ": " + failure.error;
    if (TRANSIENT.contains(failure.errno)) {
      Log.warn("sentinel_not_started", "detail", detail + ": tried again later");
    } else {
      unusable = true;
      Log.info("sentinel_unavailable", "detail", detail
          + ": the reaper parks while the agent has no child");
    }
  }

  /** Why a start failed: the step, its error's words, and the errno (0: none). */
  private record Failure(String step, String error, int errno) {
    Failure(String step, int errno) {
      this(step, LibC.strerror(errno), errno);
    }
  }

  /** Starts the sentinel; returns why not, or null. */
  private static Failure start() {
    int program = ExecHelper.sealed(NAME, ExecHelper.elf(
        java.util.HexFormat.of().parseHex(CODE)));
    if (program < 0) {
      return new Failure("memfd", -program);
    }
    int[] stdin = new int[2];
    if (LibC.pipe2(stdin, LibC.O_CLOEXEC) != 0) {
      int errno = LibC.errno();
      LibC.close(program);
      return new Failure("pipe", errno);
    }
    Memory fa = new Memory(512);
    Memory attr = new Memory(512);
    NativeSpawn.childAttributes(attr);
    LibC.Spawn.posix_spawn_file_actions_init(fa);
    try {
      LibC.Spawn.posix_spawn_file_actions_adddup2(fa, stdin[0], 0);
      LibC.Spawn.posix_spawn_file_actions_addclosefrom_np(fa, 1);
      Memory argv = new Memory(8 * 2 + NAME.length() + 1);
      argv.setString(16, NAME, "US-ASCII");
      argv.setPointer(0, argv.share(16));
      argv.setPointer(8, null);
      int[] child = new int[1];
      int rc = LibC.Spawn.posix_spawnp(child, ExecHelper.pathOf(program), fa, attr, argv,
          argv.share(8));
      if (rc != 0) {
        LibC.close(stdin[1]);
        return new Failure("exec", rc);
      }
      pid = child[0];
      lifeline = stdin[1];
      Log.debug("sentinel_started", "pid", child[0]);
      return null;
    } finally {
      LibC.Spawn.posix_spawn_file_actions_destroy(fa);
      LibC.close(stdin[0]);
      LibC.close(program);
    }
  }

  /**
   * On the reaper thread, child {@code p} has been reaped: returns whether it was the sentinel
   * (then none runs now, and the next {@link #ensure} may start another).
   */
  static boolean reaped(int p) {
    // Every child the reaper reaps comes here: no lock unless it is the sentinel.
    if (p != pid || p == 0) {
      return false;
    }
    synchronized (Sentinel.class) {
      return reapedNow(p);
    }
  }

  private static boolean reapedNow(int p) {
    pid = 0;
    if (lifeline >= 0) {
      LibC.close(lifeline);
      lifeline = -1;
    }
    if (!ended) {
      Log.warn("sentinel_ended", "pid", p, "detail", "started again once the agent has no child");
    }
    return true;
  }

  /**
   * Shutdown: the sentinel is killed (it cannot be another process yet: it is not reaped) and its
   * stdin ends, and none is started again. The reaper reaps it.
   */
  static synchronized void end() {
    ended = true;
    if (pid != 0) {
      // Stopped, it would not see its stdin end.
      LibC.signal(pid, LibC.SIGKILL);
    }
    if (lifeline >= 0) {
      LibC.close(lifeline);
      lifeline = -1;
    }
  }
}
