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
 *   <li>descriptors 4 on: the files that move it into its cell (the cgroup v1 pids
 *       {@code tasks}, then the v2 {@code cgroup.procs});</li>
 *   <li>argv: itself, the working directory (or ""), the paths the command may be at (each
 *       directory of {@code PATH} in turn, as {@code posix_spawnp} would try them), "", then the
 *       command's own argv.</li>
 * </ul>
 * It writes "0" (itself) to each and closes it, changes directory, and execs the first path
 * that is there, with the C library's rules for which failures go on to the next path. A failure
 * is written to the pipe as four bytes, the errno with the step in the bits above it
 * ({@link #PLACING}, {@link #CHDIR}), and the program exits 127. So the spawning thread learns
 * that the command runs in its cell when its read of the pipe ends with nothing, and nothing the
 * command runs is ever outside the cell. Its working directory and its program are looked up in
 * the cell too, where a kill reaches a look-up that waits on a file system that hangs.
 *
 * <p>A run's child does not even exec it: the same code is mapped into the agent (read and
 * execute only) and the agent clones the child itself ({@link #cloneChild}), on a stack each
 * spawning thread keeps, sharing the agent's memory until the exec as {@code posix_spawn} does.
 * Such a child has no pipe: it puts a failure in a word of that shared memory, which the agent
 * reads once the clone returns (after the exec, or the exit), or, for a run's child, which is
 * born in its cell's cgroup and not waited for, once it has been reaped.
 * The child resets its signals, starts its session and puts its descriptors in place (a
 * session's terminal opened after its setsid, so that it is its controlling terminal), then goes
 * on as the program does. {@code posix_spawn} maps and unmaps a stack for every child, and the
 * unmapping flushes the TLB of every other CPU that runs one of the agent's threads. Where the
 * agent cannot clone (no {@code clone3}, or a filter refuses it), or with
 * {@code -Dagent.spawn.clone.off=true}, each child is started by {@code posix_spawn} and execs the
 * program from the memfd; otherwise the memfd is never exec'd.
 *
 * <p>Against a {@link Gate} this costs the agent nothing per spawn (a pipe and a read where the
 * program is exec'd) instead of a second thread, two FIFOs and two cgroup writes: the writes are
 * the child's, and nothing wakes another agent thread. x86-64 only (elsewhere, and where a memfd
 * cannot be exec'd, the gate is used).
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
   * stack holds argc, argv and envp; r12 is argc, r13 argv, r14 envp; r9 is the error word's
   * address in a cloned child, 0 otherwise.
   */
  private static final String CODE = ""
      // argc, argv and envp
      + "4c8b2424"               // 0000 mov (%rsp),%r12
      + "4c8d6c2408"             // 0004 lea 0x8(%rsp),%r13
      + "4f8d74e508"             // 0009 lea 0x8(%r13,%r12,8),%r14
      // r9: no error word (set only in a cloned child): failures go to the pipe at 3
      + "4531c9"                 // 000e xor %r9d,%r9d
      // from descriptor 4: write(fd, "0", 1), until EBADF (no more files);
      + "41bf04000000"           // 0011 mov $0x4,%r15d
      + "b801000000"             // 0017 mov $0x1,%eax
      + "4489ff"                 // 001c mov %r15d,%edi
      + "488d352c010000"         // 001f lea 0x12c(%rip),%rsi
      + "ba01000000"             // 0026 mov $0x1,%edx
      + "0f05"                   // 002b syscall
      + "4883f8f7"               // 002d cmp $0xfffffffffffffff7,%rax
      + "7418"                   // 0031 je 0x4b
      // any other failure of the write is reported (at 011a)
      + "4885c0"                 // 0033 test %rax,%rax
      + "0f88de000000"           // 0036 js 0x11a
      // close(fd), then the next
      + "b803000000"             // 003c mov $0x3,%eax
      + "4489ff"                 // 0041 mov %r15d,%edi
      + "0f05"                   // 0044 syscall
      + "41ffc7"                 // 0046 inc %r15d
      + "ebcc"                   // 0049 jmp 0x17
      // fcntl(3, F_SETFD, FD_CLOEXEC): the pipe closes when the command execs
      + "b848000000"             // 004b mov $0x48,%eax
      + "bf03000000"             // 0050 mov $0x3,%edi
      + "be02000000"             // 0055 mov $0x2,%esi
      + "ba01000000"             // 005a mov $0x1,%edx
      + "0f05"                   // 005f syscall
      // argv[1]: the working directory; chdir unless ""
      + "498b7d08"               // 0061 mov 0x8(%r13),%rdi
      + "4885ff"                 // 0065 test %rdi,%rdi
      + "0f84a5000000"           // 0068 je 0x113
      + "803f00"                 // 006e cmpb $0x0,(%rdi)
      + "7419"                   // 0071 je 0x8c
      + "b850000000"             // 0073 mov $0x50,%eax
      + "0f05"                   // 0078 syscall
      + "4885c0"                 // 007a test %rax,%rax
      + "790d"                   // 007d jns 0x8c
      // a failed chdir is reported with CHDIR
      + "48f7d8"                 // 007f neg %rax
      + "0d00000200"             // 0082 or $0x20000,%eax
      + "e996000000"             // 0087 jmp 0x122
      // the separator: the first "" from argv[2]
      + "bb02000000"             // 008c mov $0x2,%ebx
      + "498b44dd00"             // 0091 mov 0x0(%r13,%rbx,8),%rax
      + "4885c0"                 // 0096 test %rax,%rax
      + "7478"                   // 0099 je 0x113
      + "803800"                 // 009b cmpb $0x0,(%rax)
      + "7405"                   // 009e je 0xa5
      + "48ffc3"                 // 00a0 inc %rbx
      + "ebec"                   // 00a3 jmp 0x91
      // rbp: the command's argv; r8: EACCES seen
      + "4989dc"                 // 00a5 mov %rbx,%r12
      + "4b8d6ce508"             // 00a8 lea 0x8(%r13,%r12,8),%rbp
      + "4531c0"                 // 00ad xor %r8d,%r8d
      + "bb02000000"             // 00b0 mov $0x2,%ebx
      // execve(each path in turn, rbp, envp)
      + "4c39e3"                 // 00b5 cmp %r12,%rbx
      + "7348"                   // 00b8 jae 0x102
      + "b83b000000"             // 00ba mov $0x3b,%eax
      + "498b7cdd00"             // 00bf mov 0x0(%r13,%rbx,8),%rdi
      + "4889ee"                 // 00c4 mov %rbp,%rsi
      + "4c89f2"                 // 00c7 mov %r14,%rdx
      + "0f05"                   // 00ca syscall
      + "48f7d8"                 // 00cc neg %rax
      // EACCES is remembered; ENOENT, ENOTDIR, ENODEV, ETIMEDOUT and
      + "4883f80d"               // 00cf cmp $0xd,%rax
      + "7508"                   // 00d3 jne 0xdd
      + "41b801000000"           // 00d5 mov $0x1,%r8d
      + "eb20"                   // 00db jmp 0xfd
      + "4883f802"               // 00dd cmp $0x2,%rax
      + "741a"                   // 00e1 je 0xfd
      // ESTALE go on to the next path; any other error is reported
      + "4883f814"               // 00e3 cmp $0x14,%rax
      + "7414"                   // 00e7 je 0xfd
      + "4883f813"               // 00e9 cmp $0x13,%rax
      + "740e"                   // 00ed je 0xfd
      + "4883f86e"               // 00ef cmp $0x6e,%rax
      + "7408"                   // 00f3 je 0xfd
      + "4883f874"               // 00f5 cmp $0x74,%rax
      + "7402"                   // 00f9 je 0xfd
      + "eb25"                   // 00fb jmp 0x122
      + "48ffc3"                 // 00fd inc %rbx
      + "ebb3"                   // 0100 jmp 0xb5
      // none left: ENOENT, or EACCES if one was refused
      + "b802000000"             // 0102 mov $0x2,%eax
      + "4585c0"                 // 0107 test %r8d,%r8d
      + "7416"                   // 010a je 0x122
      + "b80d000000"             // 010c mov $0xd,%eax
      + "eb0f"                   // 0111 jmp 0x122
      // no separator: EINVAL
      + "b816000000"             // 0113 mov $0x16,%eax
      + "eb08"                   // 0118 jmp 0x122
      // a failed move is reported with PLACING
      + "48f7d8"                 // 011a neg %rax
      + "0d00000100"             // 011d or $0x10000,%eax
      // a cloned child puts the error in its error word (the agent reads it once the
      // clone returns) and exits
      + "4d85c9"                 // 0122 test %r9,%r9
      + "7405"                   // 0125 je 0x12c
      + "418901"                 // 0127 mov %eax,(%r9)
      + "eb1a"                   // 012a jmp 0x146
      // write(3, &error, 4), then exit_group(127)
      + "894424f8"               // 012c mov %eax,-0x8(%rsp)
      + "b801000000"             // 0130 mov $0x1,%eax
      + "bf03000000"             // 0135 mov $0x3,%edi
      + "488d7424f8"             // 013a lea -0x8(%rsp),%rsi
      + "ba04000000"             // 013f mov $0x4,%edx
      + "0f05"                   // 0144 syscall
      + "b8e7000000"             // 0146 mov $0xe7,%eax
      + "bf7f000000"             // 014b mov $0x7f,%edi
      + "0f05"                   // 0150 syscall
      + "30"                     // 0152 the "0" written to each cell file
      // clone_entry(args, params): every signal blocked, clone3, the old mask back;
      // the child (rax 0) goes on at "child" on its own stack
      + "53"                     // 0153 push %rbx
      + "4154"                   // 0154 push %r12
      + "4883ec18"               // 0156 sub $0x18,%rsp
      + "4989fc"                 // 015a mov %rdi,%r12
      + "4889f3"                 // 015d mov %rsi,%rbx
      + "48c7442408ffff"         // 0160 movq $0xffffffffffffffff,0x8(%rsp)
      + "ffff"                   // 0167 (the same)
      + "b80e000000"             // 0169 mov $0xe,%eax
      + "bf02000000"             // 016e mov $0x2,%edi
      + "488d742408"             // 0173 lea 0x8(%rsp),%rsi
      + "4889e2"                 // 0178 mov %rsp,%rdx
      + "41ba08000000"           // 017b mov $0x8,%r10d
      + "0f05"                   // 0181 syscall
      + "b8b3010000"             // 0183 mov $0x1b3,%eax
      + "4c89e7"                 // 0188 mov %r12,%rdi
      + "be58000000"             // 018b mov $0x58,%esi
      + "0f05"                   // 0190 syscall
      + "4885c0"                 // 0192 test %rax,%rax
      + "7425"                   // 0195 je 0x1bc
      + "4989c4"                 // 0197 mov %rax,%r12
      + "b80e000000"             // 019a mov $0xe,%eax
      + "bf02000000"             // 019f mov $0x2,%edi
      + "4889e6"                 // 01a4 mov %rsp,%rsi
      + "31d2"                   // 01a7 xor %edx,%edx
      + "41ba08000000"           // 01a9 mov $0x8,%r10d
      + "0f05"                   // 01af syscall
      + "4c89e0"                 // 01b1 mov %r12,%rax
      + "4883c418"               // 01b4 add $0x18,%rsp
      + "415c"                   // 01b8 pop %r12
      + "5b"                     // 01ba pop %rbx
      + "c3"                     // 01bb ret
      // the child
      + "4883ec40"               // 01bc sub $0x40,%rsp
      // r9: the error word, params + 64, in the memory the child shares with the agent
      + "4c8d4b40"               // 01c0 lea 0x40(%rbx),%r9
      // every signal to its default (all but 9 and 19), one by one
      + "31c0"                   // 01c4 xor %eax,%eax
      + "48890424"               // 01c6 mov %rax,(%rsp)
      + "4889442408"             // 01ca mov %rax,0x8(%rsp)
      + "4889442410"             // 01cf mov %rax,0x10(%rsp)
      + "4889442418"             // 01d4 mov %rax,0x18(%rsp)
      + "41bc01000000"           // 01d9 mov $0x1,%r12d
      + "4183fc09"               // 01df cmp $0x9,%r12d
      + "741b"                   // 01e3 je 0x200
      + "4183fc13"               // 01e5 cmp $0x13,%r12d
      + "7415"                   // 01e9 je 0x200
      + "b80d000000"             // 01eb mov $0xd,%eax
      + "4489e7"                 // 01f0 mov %r12d,%edi
      + "4889e6"                 // 01f3 mov %rsp,%rsi
      + "31d2"                   // 01f6 xor %edx,%edx
      + "41ba08000000"           // 01f8 mov $0x8,%r10d
      + "0f05"                   // 01fe syscall
      + "41ffc4"                 // 0200 inc %r12d
      + "4183fc41"               // 0203 cmp $0x41,%r12d
      + "72d6"                   // 0207 jb 0x1df
      // setsid; with flag 1, back to SCHED_OTHER
      + "b870000000"             // 0209 mov $0x70,%eax
      + "0f05"                   // 020e syscall
      + "f7431801000000"         // 0210 testl $0x1,0x18(%rbx)
      + "740e"                   // 0217 je 0x227
      + "b890000000"             // 0219 mov $0x90,%eax
      + "31ff"                   // 021e xor %edi,%edi
      + "31f6"                   // 0220 xor %esi,%esi
      + "4889e2"                 // 0222 mov %rsp,%rdx
      + "0f05"                   // 0225 syscall
      // a terminal (TTY set): opened here, after setsid, so it becomes the controlling
      // terminal, and put at 0 to 2
      + "488b7338"               // 0227 mov 0x38(%rbx),%rsi
      + "4885f6"                 // 022b test %rsi,%rsi
      + "7467"                   // 022e je 0x297
      + "b801010000"             // 0230 mov $0x101,%eax
      + "bf9cffffff"             // 0235 mov $0xffffff9c,%edi
      + "ba02000000"             // 023a mov $0x2,%edx
      + "4531d2"                 // 023f xor %r10d,%r10d
      + "0f05"                   // 0242 syscall
      + "4885c0"                 // 0244 test %rax,%rax
      + "0f8814010000"           // 0247 js 0x361
      + "4189c4"                 // 024d mov %eax,%r12d
      + "b821000000"             // 0250 mov $0x21,%eax
      + "4489e7"                 // 0255 mov %r12d,%edi
      + "31f6"                   // 0258 xor %esi,%esi
      + "0f05"                   // 025a syscall
      + "4885c0"                 // 025c test %rax,%rax
      + "0f88fc000000"           // 025f js 0x361
      + "b821000000"             // 0265 mov $0x21,%eax
      + "4489e7"                 // 026a mov %r12d,%edi
      + "be01000000"             // 026d mov $0x1,%esi
      + "0f05"                   // 0272 syscall
      + "4885c0"                 // 0274 test %rax,%rax
      + "0f88e4000000"           // 0277 js 0x361
      + "b821000000"             // 027d mov $0x21,%eax
      + "4489e7"                 // 0282 mov %r12d,%edi
      + "be02000000"             // 0285 mov $0x2,%esi
      + "0f05"                   // 028a syscall
      + "4885c0"                 // 028c test %rax,%rax
      + "0f88cc000000"           // 028f js 0x361
      + "eb64"                   // 0295 jmp 0x2fb
      // pipes: stdin its descriptor, or /dev/null opened here; then stdout, stderr
      + "8b7b1c"                 // 0297 mov 0x1c(%rbx),%edi
      + "85ff"                   // 029a test %edi,%edi
      + "7920"                   // 029c jns 0x2be
      + "b801010000"             // 029e mov $0x101,%eax
      + "bf9cffffff"             // 02a3 mov $0xffffff9c,%edi
      + "488b7310"               // 02a8 mov 0x10(%rbx),%rsi
      + "31d2"                   // 02ac xor %edx,%edx
      + "4531d2"                 // 02ae xor %r10d,%r10d
      + "0f05"                   // 02b1 syscall
      + "4885c0"                 // 02b3 test %rax,%rax
      + "0f88a5000000"           // 02b6 js 0x361
      + "89c7"                   // 02bc mov %eax,%edi
      + "4189fc"                 // 02be mov %edi,%r12d
      + "b821000000"             // 02c1 mov $0x21,%eax
      + "31f6"                   // 02c6 xor %esi,%esi
      + "0f05"                   // 02c8 syscall
      + "4885c0"                 // 02ca test %rax,%rax
      + "0f888e000000"           // 02cd js 0x361
      + "b821000000"             // 02d3 mov $0x21,%eax
      + "8b7b20"                 // 02d8 mov 0x20(%rbx),%edi
      + "be01000000"             // 02db mov $0x1,%esi
      + "0f05"                   // 02e0 syscall
      + "4885c0"                 // 02e2 test %rax,%rax
      + "787a"                   // 02e5 js 0x361
      + "b821000000"             // 02e7 mov $0x21,%eax
      + "8b7b24"                 // 02ec mov 0x24(%rbx),%edi
      + "be02000000"             // 02ef mov $0x2,%esi
      + "0f05"                   // 02f4 syscall
      + "4885c0"                 // 02f6 test %rax,%rax
      + "7866"                   // 02f9 js 0x361
      // close(3): nothing of the agent's stays there
      + "b803000000"             // 02fb mov $0x3,%eax
      + "bf03000000"             // 0300 mov $0x3,%edi
      + "0f05"                   // 0305 syscall
      // the cell's files at 4 on, then close_range(4 + n, ~0, 0)
      + "4531e4"                 // 0307 xor %r12d,%r12d
      + "443b632c"               // 030a cmp 0x2c(%rbx),%r12d
      + "731b"                   // 030e jae 0x32b
      + "b821000000"             // 0310 mov $0x21,%eax
      + "428b7ca330"             // 0315 mov 0x30(%rbx,%r12,4),%edi
      + "418d742404"             // 031a lea 0x4(%r12),%esi
      + "0f05"                   // 031f syscall
      + "4885c0"                 // 0321 test %rax,%rax
      + "783b"                   // 0324 js 0x361
      + "41ffc4"                 // 0326 inc %r12d
      + "ebdf"                   // 0329 jmp 0x30a
      + "b8b4010000"             // 032b mov $0x1b4,%eax
      + "418d7c2404"             // 0330 lea 0x4(%r12),%edi
      + "beffffffff"             // 0335 mov $0xffffffff,%esi
      + "31d2"                   // 033a xor %edx,%edx
      + "0f05"                   // 033c syscall
      // the signal mask emptied; argv and envp as the helper has them, then its moves
      + "b80e000000"             // 033e mov $0xe,%eax
      + "bf02000000"             // 0343 mov $0x2,%edi
      + "4889e6"                 // 0348 mov %rsp,%rsi
      + "31d2"                   // 034b xor %edx,%edx
      + "41ba08000000"           // 034d mov $0x8,%r10d
      + "0f05"                   // 0353 syscall
      + "4c8b2b"                 // 0355 mov (%rbx),%r13
      + "4c8b7308"               // 0358 mov 0x8(%rbx),%r14
      + "e9b0fcffff"             // 035c jmp 0x11
      // a step before the helper's failed: reported as the helper reports
      + "48f7d8"                 // 0361 neg %rax
      + "e9b9fdffff";            // 0364 jmp 0x122

  /** Where {@code clone_entry} begins in the code. */
  private static final int CLONE_ENTRY = 0x153;
  /** Where in a clone's parameters its child puts its error word (0 while none). */
  private static final int ERROR_WORD = 64;
  private static final long CLONE_VM = 0x100;
  private static final long CLONE_VFORK = 0x4000;
  private static final long CLONE_INTO_CGROUP = 0x200000000L;
  private static final int E2BIG = 7;
  /** {@code -Dagent.spawn.into_cell.off=true}: every child is waited for until its exec. */
  private static final boolean INTO_CELLS_OFF = Boolean.getBoolean("agent.spawn.into_cell.off");
  private static final int SIGCHLD = 17;
  private static final int PROT_READ = 1;
  private static final int PROT_EXEC = 4;
  private static final int MAP_PRIVATE = 2;
  /** A cloned child's stack: it uses a few hundred bytes of it. */
  private static final int STACK = 16 * 1024;
  /** The stack of a child that is not waited for, one per run in flight. */
  static final int SMALL_STACK = 4 * 1024;
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

  /**
   * What a cloned child uses until its exec: a stack, the arguments (a spawning thread keeps one
   * for the children it waits for; a child not waited for has one of its own).
   */
  static final class CloneMemory {
    final Memory stack;
    final Memory args = new Memory(88);
    final Memory params = new Memory(72);
    /** The path of a session's terminal, for its child to open. */
    final Memory tty = new Memory(256);

    CloneMemory() {
      this(STACK);
    }

    CloneMemory(int stackBytes) {
      stack = new Memory(stackBytes);
    }

    /** Frees all of it; only once no child can read it any more. */
    void close() {
      stack.close();
      args.close();
      params.close();
      tty.close();
    }

    /** What the last child cloned with this memory wrote of its failure (0: none). */
    int errorWord() {
      return params.getInt(ERROR_WORD);
    }
  }

  /** Whether a clone into a cgroup was refused once (a kernel before 5.7, say). */
  private static volatile boolean intoCellsRefused;

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
    if (!x86()) {
      unusable("it is for x86-64, this is " + System.getProperty("os.arch"));
      return null;
    }
    if (Boolean.getBoolean("agent.spawn.exec_helper.off")) {
      unusable("-Dagent.spawn.exec_helper.off");
      return null;
    }
    byte[] elf = elf(java.util.HexFormat.of().parseHex(CODE));
    int fd = sealed("agent-exec", elf);
    if (fd < 0) {
      unusable("memfd: " + LibC.strerror(-fd));
      return null;
    }
    String p = pathOf(fd);
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
        cloneEntry != null, "into_cell", clonesIntoCells(), "on_caller",
        Launcher.startsOnCaller());
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

  /**
   * The helper's argv for a test with nothing to run (itself, no directory, no path to try, the
   * separator: it must answer ENOENT), its NULL at 24 doubling as an empty environment.
   */
  private static Memory nothingToRun() {
    Memory argv = new Memory(8 * 4 + 1);
    argv.setByte(8 * 4, (byte) 0);
    long empty = Pointer.nativeValue(argv) + 8 * 4;
    argv.setLong(0, empty);
    argv.setLong(8, empty);
    argv.setLong(16, empty);
    argv.setLong(24, 0);
    return argv;
  }

  private static String probeClone(Function f) {
    // The child's standard streams: /dev/null, so that nothing it could write goes anywhere.
    int devNull = LibC.openat(LibC.AT_FDCWD, LibC.c("/dev/null"),
        LibC.O_RDWR | LibC.O_CLOEXEC, 0);
    if (devNull < 0) {
      return "/dev/null: " + LibC.strerror(LibC.errno());
    }
    Memory argv = nothingToRun();
    Pointer envp = argv.share(24);
    int[] child = new int[2];
    int tid = LibC.Spawn.gettid();
    Reaper.spawnStarting(tid);
    try {
      int rc = cloneWith(f, child, new CloneMemory(), argv, envp,
          new int[] {-1, devNull, devNull}, null, new int[0], -1, true);
      if (rc != 0) {
        return "clone3: " + LibC.strerror(rc);
      }
      LibC.waitpid(child[0], new int[1], 0);
      return child[1] == LibC.ENOENT ? null : "its test answered " + child[1];
    } finally {
      Reaper.spawnEnded(tid);
      LibC.close(devNull);
    }
  }

  /**
   * Whether a run's child can be cloned into its cell's cgroup and not waited for (see
   * {@link #cloneChild}); false where cloning is not used, once the kernel has refused it, or
   * with {@code -Dagent.spawn.into_cell.off=true}.
   */
  static boolean clonesIntoCells() {
    return cloneEntry != null && !intoCellsRefused && !INTO_CELLS_OFF;
  }

  /**
   * Starts a child with {@code clone3} on {@code memory}'s stack, sharing the agent's memory until
   * it execs, as {@code posix_spawn} does, but with no stack mapped and unmapped per child (the
   * unmapping flushes the other CPUs' TLBs). The child resets its signals, starts a session, puts
   * {@code stdio} at 0 to 2 (-1 on stdin for /dev/null) and {@code cellFiles} from 4, closes the
   * rest, and goes on as the helper does with {@code argv} (the helper's argv) and {@code envp}.
   * With {@code tty} (then {@code stdio} may be null) it opens that terminal instead, after its
   * setsid, so that it is its controlling terminal, and puts it at 0 to 2.
   *
   * <p>Given a cgroup v2 directory ({@code cellDirectory}, else -1), the child is born in that
   * cgroup ({@code CLONE_INTO_CGROUP}), so nothing can kill the cell and miss it, and it has only
   * the v1 move left to make (the last of {@code cellFiles}, the v2 one, is left out). With
   * {@code waited} the clone returns once the child has exec'd its command or failed:
   * {@code child[1]} is then its error word (0: the command runs; else as the helper writes it to
   * its pipe, and the child has exited 127). Otherwise (only with a directory) the clone returns
   * at once: the word, in {@code memory}, is known once the child has exited, and {@code memory},
   * {@code argv} and {@code envp} must stay until then. Returns 0 with {@code child[0]} its pid;
   * an errno where the clone failed; or -1 where cloning is not used (nothing was started).
   */
  static int cloneChild(int[] child, CloneMemory memory, Pointer argv, Pointer envp, int[] stdio,
      String tty, int[] cellFiles, int cellDirectory, boolean waited) {
    Function f = cloneEntry;
    byte[] ttyPath = tty == null ? null : LibC.c(tty);
    if (f == null || cellFiles.length > 2 || (stdio == null && tty == null)
        || (ttyPath != null && ttyPath.length > memory.tty.size())) {
      return -1;
    }
    if (ttyPath != null) {
      memory.tty.write(0, ttyPath, 0, ttyPath.length);
    }
    int rc = cloneWith(f, child, memory, argv, envp,
        stdio == null ? new int[] {-1, -1, -1} : stdio, ttyPath == null ? null : memory.tty,
        cellFiles, cellDirectory, waited || cellDirectory < 0);
    if (rc != 0 && cellDirectory >= 0 && !intoCellsRefused && (rc == LibC.EINVAL
        || rc == LibC.ENOSYS || rc == E2BIG || rc == LibC.EOPNOTSUPP)) {
      intoCellsRefused = true;
      Log.info("spawn_into_cell", "detail", "clone3 into a cgroup refused ("
          + LibC.strerror(rc) + "): each child is waited for until its exec");
    }
    return rc;
  }

  private static int cloneWith(Function f, int[] child, CloneMemory m, Pointer argv, Pointer envp,
      int[] stdio, Pointer tty, int[] cellFiles, int cellDirectory, boolean waited) {
    m.args.clear();
    long flags = CLONE_VM | (waited ? CLONE_VFORK : 0);
    if (cellDirectory >= 0) {
      flags |= CLONE_INTO_CGROUP;
      m.args.setLong(80, cellDirectory);
    }
    m.args.setLong(0, flags);
    m.args.setLong(32, SIGCHLD);
    m.args.setLong(40, Pointer.nativeValue(m.stack));
    m.args.setLong(48, m.stack.size() - 64);
    m.params.setPointer(0, argv);
    m.params.setPointer(8, envp);
    m.params.setPointer(16, DEV_NULL);
    m.params.setInt(24, Priority.raise() ? 1 : 0);
    m.params.setInt(28, stdio[0]);
    m.params.setInt(32, stdio[1]);
    m.params.setInt(36, stdio[2]);
    // Born in its cell's cgroup, a child has only the v1 pids move (if any) left to make: the
    // v2 file, always the last, is left out.
    int moves = cellDirectory >= 0 ? cellFiles.length - 1 : cellFiles.length;
    m.params.setInt(44, moves);
    for (int i = 0; i < moves; i++) {
      m.params.setInt(48 + 4L * i, cellFiles[i]);
    }
    m.params.setPointer(56, tty);
    m.params.setInt(ERROR_WORD, 0);
    long r = f.invokeLong(new Object[] {m.args, m.params});
    if (r > 0) {
      child[0] = (int) r;
      // Waited for, the clone returned once the child had exec'd or exited: its word is written.
      child[1] = waited ? m.errorWord() : 0;
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
    Memory argv = nothingToRun();
    Pointer envp = argv.share(24);
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

  /**
   * A sealed memfd (close-on-exec) holding {@code elf}: its descriptor, or minus the errno where
   * it cannot be made.
   */
  static int sealed(String name, byte[] elf) {
    int fd = LibC.Spawn.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
      return -LibC.errno();
    }
    if (LibC.write(fd, elf, elf.length) != elf.length
        || LibC.fcntl(fd, F_ADD_SEALS, ALL_SEALS) != 0) {
      int error = LibC.errno();
      LibC.close(fd);
      return -error;
    }
    return fd;
  }

  /**
   * The path a child execs the agent's descriptor {@code fd} by: through the agent's pid, so it
   * still names the file once the child has closed its own copy.
   */
  static String pathOf(int fd) {
    return "/proc/" + ProcessHandle.current().pid() + "/fd/" + fd;
  }

  /** Whether this machine runs the x86-64 code these programs are written in. */
  static boolean x86() {
    String arch = System.getProperty("os.arch");
    return "amd64".equals(arch) || "x86_64".equals(arch);
  }

  /**
   * An ELF executable of {@code code} (position independent, entered at its first byte): its
   * header, a loadable segment of the whole file, a non-exec stack.
   */
  static byte[] elf(byte[] code) {
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
