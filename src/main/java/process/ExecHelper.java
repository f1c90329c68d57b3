package process;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import log.Log;
import sys.LibC;

/**
 * A program of a few hundred bytes that puts itself in its cell and then runs the command: what
 * {@code posix_spawnattr_setcgroup_np} (glibc 2.39) would do, with the C library this agent has.
 *
 * <p>The child of a spawn that wants a cell execs this program first, from a sealed memfd, with:
 * <ul>
 *   <li>descriptor 3: a pipe to the spawning thread, closed by the command's exec;</li>
 *   <li>descriptors 4 on: the cell's {@code cgroup.procs} files (cgroup v1 pids, then v2);</li>
 *   <li>argv: itself, the working directory (or ""), the paths the command may be at (each
 *       directory of {@code PATH} in turn, as {@code posix_spawnp} would try them), "", then the
 *       command's own argv.</li>
 * </ul>
 * It writes "0" (itself) to each {@code cgroup.procs} and closes it, changes directory, and execs
 * the first path that is there, with the C library's rules for which failures go on to the next
 * path. A failure is written to the pipe as four bytes, the errno with the step in the bits above
 * it ({@link #PLACING}, {@link #CHDIR}), and the program exits 127. So the spawning thread learns
 * that the command runs in its cell when its read of the pipe ends with nothing, and nothing the
 * command runs is ever outside the cell. Its working directory and its program are looked up in
 * the cell too, where a kill reaches a look-up that waits on a file system that hangs.
 *
 * <p>A run's child does not even exec it: the same code is mapped into the agent (read and
 * execute only) and the agent clones the child itself ({@link #cloneChild}), on a stack each
 * spawning thread keeps, sharing the agent's memory until the exec as {@code posix_spawn} does.
 * The child resets its signals, starts its session and puts its descriptors in place (a
 * session's terminal opened after its setsid, so that it is its controlling terminal), then goes
 * on as the program does. {@code posix_spawn} maps and unmaps a stack for every child, and the
 * unmapping flushes the TLB of every other CPU that runs one of the agent's threads. Where the
 * agent cannot clone (no {@code clone3}, or a filter refuses it), or with
 * {@code -Dagent.spawn.clone.off=true}, each child is started by {@code posix_spawn} and execs the
 * program from the memfd; otherwise the memfd is never exec'd.
 *
 * <p>Against a {@link Gate} this costs the agent a pipe and a read per spawn instead of a second
 * thread, two FIFOs and two cgroup writes: the writes are the child's, and nothing wakes another
 * agent thread. x86-64 only (elsewhere, and where a memfd cannot be exec'd, the gate is used).
 */
final class ExecHelper {
  /** The step that failed, above the errno: moving into the cell. */
  static final int PLACING = 0x10000;
  /** The step that failed, above the errno: changing to the working directory. */
  static final int CHDIR = 0x20000;

  private static final int MFD_CLOEXEC = 1;
  private static final int MFD_ALLOW_SEALING = 2;
  private static final int F_ADD_SEALS = 1033;
  /** F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE. */
  private static final int ALL_SEALS = 1 | 2 | 4 | 8;
  private static final long BASE = 0x400000;
  /** The ELF header and two program headers, before the code. */
  private static final int HEADERS = 64 + 2 * 56;

  /**
   * The program's code, position independent, from this assembly (GNU syntax; x86-64 Linux
   * system calls: 1 write, 3 close, 59 execve, 72 fcntl, 80 chdir, 231 exit_group). At entry the
   * stack holds argc, argv and envp; r12 is argc, r13 argv, r14 envp.
   */
  private static final String CODE = ""
      // argc, argv and envp
      + "4c8b2424"               // 0000 mov (%rsp),%r12
      + "4c8d6c2408"             // 0004 lea 0x8(%rsp),%r13
      + "4f8d74e508"             // 0009 lea 0x8(%r13,%r12,8),%r14
      // from descriptor 4: write(fd, "0", 1), until EBADF (no more files);
      + "41bf04000000"           // 000e mov $0x4,%r15d
      + "b801000000"             // 0014 mov $0x1,%eax
      + "4489ff"                 // 0019 mov %r15d,%edi
      + "488d3522010000"         // 001c lea 0x122(%rip),%rsi
      + "ba01000000"             // 0023 mov $0x1,%edx
      + "0f05"                   // 0028 syscall
      + "4883f8f7"               // 002a cmp $0xfffffffffffffff7,%rax
      + "7418"                   // 002e je 0x48
      // any other failure of the write is reported (at 0117)
      + "4885c0"                 // 0030 test %rax,%rax
      + "0f88de000000"           // 0033 js 0x117
      // close(fd), then the next
      + "b803000000"             // 0039 mov $0x3,%eax
      + "4489ff"                 // 003e mov %r15d,%edi
      + "0f05"                   // 0041 syscall
      + "41ffc7"                 // 0043 inc %r15d
      + "ebcc"                   // 0046 jmp 0x14
      // fcntl(3, F_SETFD, FD_CLOEXEC): the pipe closes when the command execs
      + "b848000000"             // 0048 mov $0x48,%eax
      + "bf03000000"             // 004d mov $0x3,%edi
      + "be02000000"             // 0052 mov $0x2,%esi
      + "ba01000000"             // 0057 mov $0x1,%edx
      + "0f05"                   // 005c syscall
      // argv[1]: the working directory; chdir unless ""
      + "498b7d08"               // 005e mov 0x8(%r13),%rdi
      + "4885ff"                 // 0062 test %rdi,%rdi
      + "0f84a5000000"           // 0065 je 0x110
      + "803f00"                 // 006b cmpb $0x0,(%rdi)
      + "7419"                   // 006e je 0x89
      + "b850000000"             // 0070 mov $0x50,%eax
      + "0f05"                   // 0075 syscall
      + "4885c0"                 // 0077 test %rax,%rax
      + "790d"                   // 007a jns 0x89
      // a failed chdir is reported with CHDIR
      + "48f7d8"                 // 007c neg %rax
      + "0d00000200"             // 007f or $0x20000,%eax
      + "e996000000"             // 0084 jmp 0x11f
      // the separator: the first "" from argv[2]
      + "bb02000000"             // 0089 mov $0x2,%ebx
      + "498b44dd00"             // 008e mov 0x0(%r13,%rbx,8),%rax
      + "4885c0"                 // 0093 test %rax,%rax
      + "7478"                   // 0096 je 0x110
      + "803800"                 // 0098 cmpb $0x0,(%rax)
      + "7405"                   // 009b je 0xa2
      + "48ffc3"                 // 009d inc %rbx
      + "ebec"                   // 00a0 jmp 0x8e
      // rbp: the command's argv; r8: EACCES seen
      + "4989dc"                 // 00a2 mov %rbx,%r12
      + "4b8d6ce508"             // 00a5 lea 0x8(%r13,%r12,8),%rbp
      + "4531c0"                 // 00aa xor %r8d,%r8d
      + "bb02000000"             // 00ad mov $0x2,%ebx
      // execve(each path in turn, rbp, envp)
      + "4c39e3"                 // 00b2 cmp %r12,%rbx
      + "7348"                   // 00b5 jae 0xff
      + "b83b000000"             // 00b7 mov $0x3b,%eax
      + "498b7cdd00"             // 00bc mov 0x0(%r13,%rbx,8),%rdi
      + "4889ee"                 // 00c1 mov %rbp,%rsi
      + "4c89f2"                 // 00c4 mov %r14,%rdx
      + "0f05"                   // 00c7 syscall
      + "48f7d8"                 // 00c9 neg %rax
      // EACCES is remembered; ENOENT, ENOTDIR, ENODEV, ETIMEDOUT and
      + "4883f80d"               // 00cc cmp $0xd,%rax
      + "7508"                   // 00d0 jne 0xda
      + "41b801000000"           // 00d2 mov $0x1,%r8d
      + "eb20"                   // 00d8 jmp 0xfa
      + "4883f802"               // 00da cmp $0x2,%rax
      + "741a"                   // 00de je 0xfa
      // ESTALE go on to the next path; any other error is reported
      + "4883f814"               // 00e0 cmp $0x14,%rax
      + "7414"                   // 00e4 je 0xfa
      + "4883f813"               // 00e6 cmp $0x13,%rax
      + "740e"                   // 00ea je 0xfa
      + "4883f86e"               // 00ec cmp $0x6e,%rax
      + "7408"                   // 00f0 je 0xfa
      + "4883f874"               // 00f2 cmp $0x74,%rax
      + "7402"                   // 00f6 je 0xfa
      + "eb25"                   // 00f8 jmp 0x11f
      + "48ffc3"                 // 00fa inc %rbx
      + "ebb3"                   // 00fd jmp 0xb2
      // none left: ENOENT, or EACCES if one was refused
      + "b802000000"             // 00ff mov $0x2,%eax
      + "4585c0"                 // 0104 test %r8d,%r8d
      + "7416"                   // 0107 je 0x11f
      + "b80d000000"             // 0109 mov $0xd,%eax
      + "eb0f"                   // 010e jmp 0x11f
      // no separator: EINVAL
      + "b816000000"             // 0110 mov $0x16,%eax
      + "eb08"                   // 0115 jmp 0x11f
      // a failed move is reported with PLACING
      + "48f7d8"                 // 0117 neg %rax
      + "0d00000100"             // 011a or $0x10000,%eax
      // write(3, &error, 4), then exit_group(127)
      + "894424f8"               // 011f mov %eax,-0x8(%rsp)
      + "b801000000"             // 0123 mov $0x1,%eax
      + "bf03000000"             // 0128 mov $0x3,%edi
      + "488d7424f8"             // 012d lea -0x8(%rsp),%rsi
      + "ba04000000"             // 0132 mov $0x4,%edx
      + "0f05"                   // 0137 syscall
      + "b8e7000000"             // 0139 mov $0xe7,%eax
      + "bf7f000000"             // 013e mov $0x7f,%edi
      + "0f05"                   // 0143 syscall
      + "30"                     // 0145 the "0" written to cgroup.procs
      // clone_entry(args, params): every signal blocked, clone3, the old mask back;
      // the child (rax 0) goes on at "child" on its own stack
      + "53"                     // 0146 push %rbx
      + "4154"                   // 0147 push %r12
      + "4883ec18"               // 0149 sub $0x18,%rsp
      + "4989fc"                 // 014d mov %rdi,%r12
      + "4889f3"                 // 0150 mov %rsi,%rbx
      + "48c7442408ffff"         // 0153 movq $0xffffffffffffffff,0x8(%rsp)
      + "ffff"                   // 015a (the same)
      + "b80e000000"             // 015c mov $0xe,%eax
      + "bf02000000"             // 0161 mov $0x2,%edi
      + "488d742408"             // 0166 lea 0x8(%rsp),%rsi
      + "4889e2"                 // 016b mov %rsp,%rdx
      + "41ba08000000"           // 016e mov $0x8,%r10d
      + "0f05"                   // 0174 syscall
      + "b8b3010000"             // 0176 mov $0x1b3,%eax
      + "4c89e7"                 // 017b mov %r12,%rdi
      + "be58000000"             // 017e mov $0x58,%esi
      + "0f05"                   // 0183 syscall
      + "4885c0"                 // 0185 test %rax,%rax
      + "7425"                   // 0188 je 0x1af
      + "4989c4"                 // 018a mov %rax,%r12
      + "b80e000000"             // 018d mov $0xe,%eax
      + "bf02000000"             // 0192 mov $0x2,%edi
      + "4889e6"                 // 0197 mov %rsp,%rsi
      + "31d2"                   // 019a xor %edx,%edx
      + "41ba08000000"           // 019c mov $0x8,%r10d
      + "0f05"                   // 01a2 syscall
      + "4c89e0"                 // 01a4 mov %r12,%rax
      + "4883c418"               // 01a7 add $0x18,%rsp
      + "415c"                   // 01ab pop %r12
      + "5b"                     // 01ad pop %rbx
      + "c3"                     // 01ae ret
      // the child: every signal to its default (all but 9 and 19), one by one
      + "4883ec40"               // 01af sub $0x40,%rsp
      + "31c0"                   // 01b3 xor %eax,%eax
      + "48890424"               // 01b5 mov %rax,(%rsp)
      + "4889442408"             // 01b9 mov %rax,0x8(%rsp)
      + "4889442410"             // 01be mov %rax,0x10(%rsp)
      + "4889442418"             // 01c3 mov %rax,0x18(%rsp)
      + "41bc01000000"           // 01c8 mov $0x1,%r12d
      + "4183fc09"               // 01ce cmp $0x9,%r12d
      + "741b"                   // 01d2 je 0x1ef
      + "4183fc13"               // 01d4 cmp $0x13,%r12d
      + "7415"                   // 01d8 je 0x1ef
      + "b80d000000"             // 01da mov $0xd,%eax
      + "4489e7"                 // 01df mov %r12d,%edi
      + "4889e6"                 // 01e2 mov %rsp,%rsi
      + "31d2"                   // 01e5 xor %edx,%edx
      + "41ba08000000"           // 01e7 mov $0x8,%r10d
      + "0f05"                   // 01ed syscall
      + "41ffc4"                 // 01ef inc %r12d
      + "4183fc41"               // 01f2 cmp $0x41,%r12d
      + "72d6"                   // 01f6 jb 0x1ce
      // setsid; with flag 1, back to SCHED_OTHER
      + "b870000000"             // 01f8 mov $0x70,%eax
      + "0f05"                   // 01fd syscall
      + "f7431801000000"         // 01ff testl $0x1,0x18(%rbx)
      + "740e"                   // 0206 je 0x216
      + "b890000000"             // 0208 mov $0x90,%eax
      + "31ff"                   // 020d xor %edi,%edi
      + "31f6"                   // 020f xor %esi,%esi
      + "4889e2"                 // 0211 mov %rsp,%rdx
      + "0f05"                   // 0214 syscall
      // a terminal (TTY set): opened here, after setsid, so it becomes the controlling
      // terminal, and put at 0 to 2
      + "488b7338"               // 0216 mov 0x38(%rbx),%rsi
      + "4885f6"                 // 021a test %rsi,%rsi
      + "7467"                   // 021d je 0x286
      + "b801010000"             // 021f mov $0x101,%eax
      + "bf9cffffff"             // 0224 mov $0xffffff9c,%edi
      + "ba02000000"             // 0229 mov $0x2,%edx
      + "4531d2"                 // 022e xor %r10d,%r10d
      + "0f05"                   // 0231 syscall
      + "4885c0"                 // 0233 test %rax,%rax
      + "0f8820010000"           // 0236 js 0x35c
      + "4189c4"                 // 023c mov %eax,%r12d
      + "b821000000"             // 023f mov $0x21,%eax
      + "4489e7"                 // 0244 mov %r12d,%edi
      + "31f6"                   // 0247 xor %esi,%esi
      + "0f05"                   // 0249 syscall
      + "4885c0"                 // 024b test %rax,%rax
      + "0f8808010000"           // 024e js 0x35c
      + "b821000000"             // 0254 mov $0x21,%eax
      + "4489e7"                 // 0259 mov %r12d,%edi
      + "be01000000"             // 025c mov $0x1,%esi
      + "0f05"                   // 0261 syscall
      + "4885c0"                 // 0263 test %rax,%rax
      + "0f88f0000000"           // 0266 js 0x35c
      + "b821000000"             // 026c mov $0x21,%eax
      + "4489e7"                 // 0271 mov %r12d,%edi
      + "be02000000"             // 0274 mov $0x2,%esi
      + "0f05"                   // 0279 syscall
      + "4885c0"                 // 027b test %rax,%rax
      + "0f88d8000000"           // 027e js 0x35c
      + "eb68"                   // 0284 jmp 0x2ee
      // pipes: stdin its descriptor, or /dev/null opened here; then stdout, stderr
      + "8b7b1c"                 // 0286 mov 0x1c(%rbx),%edi
      + "85ff"                   // 0289 test %edi,%edi
      + "7920"                   // 028b jns 0x2ad
      + "b801010000"             // 028d mov $0x101,%eax
      + "bf9cffffff"             // 0292 mov $0xffffff9c,%edi
      + "488b7310"               // 0297 mov 0x10(%rbx),%rsi
      + "31d2"                   // 029b xor %edx,%edx
      + "4531d2"                 // 029d xor %r10d,%r10d
      + "0f05"                   // 02a0 syscall
      + "4885c0"                 // 02a2 test %rax,%rax
      + "0f88b1000000"           // 02a5 js 0x35c
      + "89c7"                   // 02ab mov %eax,%edi
      + "4189fc"                 // 02ad mov %edi,%r12d
      + "b821000000"             // 02b0 mov $0x21,%eax
      + "31f6"                   // 02b5 xor %esi,%esi
      + "0f05"                   // 02b7 syscall
      + "4885c0"                 // 02b9 test %rax,%rax
      + "0f889a000000"           // 02bc js 0x35c
      + "b821000000"             // 02c2 mov $0x21,%eax
      + "8b7b20"                 // 02c7 mov 0x20(%rbx),%edi
      + "be01000000"             // 02ca mov $0x1,%esi
      + "0f05"                   // 02cf syscall
      + "4885c0"                 // 02d1 test %rax,%rax
      + "0f8882000000"           // 02d4 js 0x35c
      + "b821000000"             // 02da mov $0x21,%eax
      + "8b7b24"                 // 02df mov 0x24(%rbx),%edi
      + "be02000000"             // 02e2 mov $0x2,%esi
      + "0f05"                   // 02e7 syscall
      + "4885c0"                 // 02e9 test %rax,%rax
      + "786e"                   // 02ec js 0x35c
      // the pipe at 3
      + "b821000000"             // 02ee mov $0x21,%eax
      + "8b7b28"                 // 02f3 mov 0x28(%rbx),%edi
      + "be03000000"             // 02f6 mov $0x3,%esi
      + "0f05"                   // 02fb syscall
      + "4885c0"                 // 02fd test %rax,%rax
      + "785a"                   // 0300 js 0x35c
      // the cell's files at 4 on, then close_range(4 + n, ~0, 0)
      + "4531e4"                 // 0302 xor %r12d,%r12d
      + "443b632c"               // 0305 cmp 0x2c(%rbx),%r12d
      + "731b"                   // 0309 jae 0x326
      + "b821000000"             // 030b mov $0x21,%eax
      + "428b7ca330"             // 0310 mov 0x30(%rbx,%r12,4),%edi
      + "418d742404"             // 0315 lea 0x4(%r12),%esi
      + "0f05"                   // 031a syscall
      + "4885c0"                 // 031c test %rax,%rax
      + "783b"                   // 031f js 0x35c
      + "41ffc4"                 // 0321 inc %r12d
      + "ebdf"                   // 0324 jmp 0x305
      + "b8b4010000"             // 0326 mov $0x1b4,%eax
      + "418d7c2404"             // 032b lea 0x4(%r12),%edi
      + "beffffffff"             // 0330 mov $0xffffffff,%esi
      + "31d2"                   // 0335 xor %edx,%edx
      + "0f05"                   // 0337 syscall
      // the signal mask emptied; argv and envp as the helper has them, then its moves
      + "b80e000000"             // 0339 mov $0xe,%eax
      + "bf02000000"             // 033e mov $0x2,%edi
      + "4889e6"                 // 0343 mov %rsp,%rsi
      + "31d2"                   // 0346 xor %edx,%edx
      + "41ba08000000"           // 0348 mov $0x8,%r10d
      + "0f05"                   // 034e syscall
      + "4c8b2b"                 // 0350 mov (%rbx),%r13
      + "4c8b7308"               // 0353 mov 0x8(%rbx),%r14
      + "e9b2fcffff"             // 0357 jmp 0xe
      // a step before the pipe is at 3 failed: told through the pipe's own descriptor
      + "48f7d8"                 // 035c neg %rax
      + "894424f8"               // 035f mov %eax,-0x8(%rsp)
      + "b801000000"             // 0363 mov $0x1,%eax
      + "8b7b28"                 // 0368 mov 0x28(%rbx),%edi
      + "488d7424f8"             // 036b lea -0x8(%rsp),%rsi
      + "ba04000000"             // 0370 mov $0x4,%edx
      + "0f05"                   // 0375 syscall
      + "b8e7000000"             // 0377 mov $0xe7,%eax
      + "bf7f000000"             // 037c mov $0x7f,%edi
      + "0f05";                  // 0381 syscall

  /** Where {@code clone_entry} begins in the code. */
  private static final int CLONE_ENTRY = 0x146;
  private static final long CLONE_VM = 0x100;
  private static final long CLONE_VFORK = 0x4000;
  private static final int SIGCHLD = 17;
  private static final int PROT_READ = 1;
  private static final int PROT_EXEC = 4;
  private static final int MAP_PRIVATE = 2;
  /** A cloned child's stack: it uses a few hundred bytes of it. */
  private static final int STACK = 16 * 1024;
  private static final Memory DEV_NULL = new Memory(16);

  static {
    DEV_NULL.setString(0, "/dev/null", "US-ASCII");
  }

  private static volatile String path;
  private static volatile boolean tried;
  /**
   * {@code clone_entry} in the agent's own memory, or null where a child is started with
   * {@code posix_spawn} and execs the helper instead.
   */
  private static volatile Function cloneEntry;

  /** What one spawning thread keeps for the children it clones: a stack, the arguments. */
  static final class CloneMemory {
    final Memory stack = new Memory(STACK);
    final Memory args = new Memory(88);
    final Memory params = new Memory(64);
    /** The path of a session's terminal, for its child to open. */
    final Memory tty = new Memory(256);
  }

  private ExecHelper() {}

  /**
   * The path to exec the program by, made and tried once on first use (on a spawning thread), or
   * null where it cannot be used: then spawns use their thread's gate.
   */
  static String path() {
    if (!tried) {
      synchronized (ExecHelper.class) {
        if (!tried) {
          path = make();
          tried = true;
        }
      }
    }
    return path;
  }

  private static String make() {
    String arch = System.getProperty("os.arch");
    if (!"amd64".equals(arch) && !"x86_64".equals(arch)) {
      unusable("it is for x86-64, this is " + arch);
      return null;
    }
    if (Boolean.getBoolean("agent.spawn.exec_helper.off")) {
      unusable("-Dagent.spawn.exec_helper.off");
      return null;
    }
    int fd = LibC.Spawn.memfd_create("agent-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
      unusable("memfd_create: " + LibC.strerror(LibC.errno()));
      return null;
    }
    byte[] elf = elf();
    if (LibC.write(fd, elf, elf.length) != elf.length
        || LibC.fcntl(fd, F_ADD_SEALS, ALL_SEALS) != 0) {
      unusable("memfd: " + LibC.strerror(LibC.errno()));
      LibC.close(fd);
      return null;
    }
    String p = "/proc/" + ProcessHandle.current().pid() + "/fd/" + fd;
    cloneEntry = mapCloneEntry(fd, elf.length);
    // Where every child is cloned, the program itself is never exec'd. Otherwise it is tried
    // once with nothing to run: it must answer ENOENT through its pipe (a kernel that refuses to
    // exec a memfd, vm.memfd_noexec, refuses here).
    String failure = cloneEntry != null ? null : probe(p);
    if (failure != null) {
      unusable(failure);
      LibC.close(fd);
      return null;
    }
    Log.info("spawn_placement", "engine", "exec_helper", "detail",
        "each child moves itself into its cell, then execs its command", "clone",
        cloneEntry != null);
    return p;
  }

  /**
   * Maps the code into the agent's memory, read and execute only, and tries a clone once: its
   * child, with nothing to run, must answer ENOENT. Null where that fails (the kernel has no
   * clone3, or a filter refuses it): children are then started by posix_spawn.
   */
  private static Function mapCloneEntry(int fd, int length) {
    if (Boolean.getBoolean("agent.spawn.clone.off")) {
      return null;
    }
    Pointer map = LibC.Spawn.mmap(null, length, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    if (map == null || Pointer.nativeValue(map) == -1) {
      Log.info("spawn_clone", "detail", "the code cannot be mapped ("
          + LibC.strerror(LibC.errno()) + "): posix_spawn starts each child");
      return null;
    }
    Function f = Function.getFunction(map.share(HEADERS + CLONE_ENTRY));
    String failure = probeClone(f);
    if (failure != null) {
      Log.info("spawn_clone", "detail", "cloning cannot be used (" + failure
          + "): posix_spawn starts each child");
      return null;
    }
    return f;
  }

  private static String probeClone(Function f) {
    int[] pipe = new int[2];
    if (LibC.pipe2(pipe, LibC.O_CLOEXEC) != 0) {
      return "pipe: " + LibC.strerror(LibC.errno());
    }
    Memory argv = new Memory(8 * 4 + 1);
    argv.setByte(8 * 4, (byte) 0);
    long empty = Pointer.nativeValue(argv) + 8 * 4;
    argv.setLong(0, empty);
    argv.setLong(8, empty);
    argv.setLong(16, empty);
    argv.setLong(24, 0);
    Memory envp = new Memory(8);
    envp.setLong(0, 0);
    int[] pid = new int[1];
    int tid = LibC.Spawn.gettid();
    Reaper.spawnStarting(tid);
    try {
      int[] high = Cgroups.copies(pipe[1]);
      if (high == null) {
        return "pipe: " + LibC.strerror(LibC.errno());
      }
      int rc;
      try {
        rc = cloneWith(f, pid, new CloneMemory(), argv, envp, new int[] {-1, high[0], high[0]},
            null, high[0], new int[0]);
      } finally {
        LibC.close(high[0]);
        LibC.close(pipe[1]);
      }
      if (rc != 0) {
        return "clone3: " + LibC.strerror(rc);
      }
      int error = readError(pipe[0]);
      LibC.waitpid(pid[0], new int[1], 0);
      return error == LibC.ENOENT ? null : "its test answered " + error;
    } finally {
      Reaper.spawnEnded(tid);
      LibC.close(pipe[0]);
    }
  }

  /**
   * Starts a child with {@code clone3} on {@code memory}'s stack, sharing the agent's memory until
   * it execs, as {@code posix_spawn} does, but with no stack mapped and unmapped per child (the
   * unmapping flushes the other CPUs' TLBs, a quarter of a spawning thread's time). The child
   * resets its signals, starts a session, puts {@code stdio} at 0 to 2 (-1 on stdin for
   * /dev/null), {@code pipe} at 3 and {@code cellFiles} from 4, closes the rest, and goes on as
   * the helper does with {@code argv} (the helper's argv) and {@code envp}. With {@code tty} (then
   * {@code stdio} may be null) it opens that terminal instead, after its setsid, so that it is its
   * controlling terminal, and puts it at 0 to 2. Returns 0 with
   * {@code pid[0]} set, an errno, or -1 where cloning is not used (nothing was started).
   */
  static int cloneChild(int[] pid, CloneMemory memory, Pointer argv, Pointer envp, int[] stdio,
      String tty, int pipe, int[] cellFiles) {
    Function f = cloneEntry;
    byte[] ttyPath = tty == null ? null : LibC.c(tty);
    if (f == null || cellFiles.length > 2 || (stdio == null && tty == null)
        || (ttyPath != null && ttyPath.length > memory.tty.size())) {
      return -1;
    }
    if (ttyPath != null) {
      memory.tty.write(0, ttyPath, 0, ttyPath.length);
    }
    return cloneWith(f, pid, memory, argv, envp, stdio == null ? new int[] {-1, -1, -1} : stdio,
        ttyPath == null ? null : memory.tty, pipe, cellFiles);
  }

  private static int cloneWith(Function f, int[] pid, CloneMemory m, Pointer argv, Pointer envp,
      int[] stdio, Pointer tty, int pipe, int[] cellFiles) {
    m.args.clear();
    m.args.setLong(0, CLONE_VM | CLONE_VFORK);
    m.args.setLong(32, SIGCHLD);
    m.args.setLong(40, Pointer.nativeValue(m.stack));
    m.args.setLong(48, STACK - 64);
    m.params.setPointer(0, argv);
    m.params.setPointer(8, envp);
    m.params.setPointer(16, DEV_NULL);
    m.params.setInt(24, Priority.raise() ? 1 : 0);
    m.params.setInt(28, stdio[0]);
    m.params.setInt(32, stdio[1]);
    m.params.setInt(36, stdio[2]);
    m.params.setInt(40, pipe);
    m.params.setInt(44, cellFiles.length);
    for (int i = 0; i < cellFiles.length; i++) {
      m.params.setInt(48 + 4L * i, cellFiles[i]);
    }
    m.params.setPointer(56, tty);
    long r = f.invokeLong(new Object[] {m.args, m.params});
    if (r > 0) {
      pid[0] = (int) r;
      return 0;
    }
    return (int) -r;
  }

  private static void unusable(String why) {
    Log.info("spawn_placement", "engine", "gate", "detail",
        "the exec helper cannot be used (" + why + "): a gate holds each child instead");
  }

  private static String probe(String p) {
    int[] pipe = new int[2];
    if (LibC.pipe2(pipe, LibC.O_CLOEXEC) != 0) {
      return "pipe: " + LibC.strerror(LibC.errno());
    }
    Memory fa = new Memory(512);
    LibC.Spawn.posix_spawn_file_actions_init(fa);
    LibC.Spawn.posix_spawn_file_actions_adddup2(fa, pipe[1], 3);
    LibC.Spawn.posix_spawn_file_actions_addclosefrom_np(fa, 4);
    Memory argv = new Memory(8 * 4 + 2);
    argv.setByte(8 * 4, (byte) 0);
    argv.setByte(8 * 4 + 1, (byte) 0);
    long empty = Pointer.nativeValue(argv) + 8 * 4;
    argv.setLong(0, empty);
    argv.setLong(8, empty);
    argv.setLong(16, empty);
    argv.setLong(24, 0);
    Memory envp = new Memory(8);
    envp.setLong(0, 0);
    int[] pid = new int[1];
    int tid = LibC.Spawn.gettid();
    // Reaped here, not by the reaper as an orphan.
    Reaper.spawnStarting(tid);
    try {
      int rc;
      try {
        rc = LibC.Spawn.posix_spawnp(pid, p, fa, null, argv, envp);
      } finally {
        LibC.close(pipe[1]);
      }
      if (rc != 0) {
        return "exec: " + LibC.strerror(rc);
      }
      int error = readError(pipe[0]);
      LibC.waitpid(pid[0], new int[1], 0);
      return error == LibC.ENOENT ? null : "its test answered " + error;
    } finally {
      Reaper.spawnEnded(tid);
      LibC.Spawn.posix_spawn_file_actions_destroy(fa);
      LibC.close(pipe[0]);
    }
  }

  /**
   * Waits until the child has exec'd its command (0) or failed (its error word, see the class
   * comment); a child killed before either also gives 0.
   */
  static int readError(int fd) {
    // Four bytes written at once to a pipe arrive at once (PIPE_BUF), or not at all.
    byte[] b = new byte[4];
    long n;
    do {
      n = LibC.read(fd, b, 4);
    } while (n < 0 && LibC.errno() == LibC.EINTR);
    return n == 4 ? ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt() : 0;
  }

  /** An ELF executable: its header, a loadable segment of the whole file, a non-exec stack. */
  static byte[] elf() {
    byte[] code = java.util.HexFormat.of().parseHex(CODE);
    int headers = HEADERS;
    ByteBuffer b = ByteBuffer.allocate(headers + code.length).order(ByteOrder.LITTLE_ENDIAN);
    b.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    b.putShort((short) 2); // ET_EXEC
    b.putShort((short) 0x3e); // x86-64
    b.putInt(1);
    b.putLong(BASE + headers); // entry
    b.putLong(64); // program headers
    b.putLong(0); // no section headers
    b.putInt(0);
    b.putShort((short) 64);
    b.putShort((short) 56);
    b.putShort((short) 2);
    b.putShort((short) 0);
    b.putShort((short) 0);
    b.putShort((short) 0);
    // PT_LOAD, read and execute, the whole file at BASE.
    b.putInt(1).putInt(5).putLong(0).putLong(BASE).putLong(BASE)
        .putLong(headers + code.length).putLong(headers + code.length).putLong(0x1000);
    // PT_GNU_STACK, read and write: the stack is not executable.
    b.putInt(0x6474e551).putInt(6).putLong(0).putLong(0).putLong(0).putLong(0).putLong(0)
        .putLong(16);
    b.put(code);
    return b.array();
  }
}
