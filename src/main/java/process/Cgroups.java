package process;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import sys.LibC;

/**
 * The agent's part of the cgroup file systems: where cgroup v2 is mounted, which cgroup the agent
 * is in, and the subtree it makes there for the processes it starts.
 *
 * <p>Layout, with {@code O} the agent's own cgroup (from {@code /proc/self/cgroup}):
 * {@code O/agent.<pid>.<n>/} holds one child cgroup per run or session. cgroup v2 lets a cgroup
 * give controllers to its children only while it holds no process itself; where the agent's own
 * cgroup is not the root and the {@code pids} controller is to be given, the agent first moves
 * itself into a leaf {@code O/agent.<pid>.<n>.self}. Where {@code pids} is bound to a cgroup v1
 * hierarchy instead (hybrid hosts), the same subtree is made there for the limit alone; killing
 * always goes through cgroup v2's {@code cgroup.kill}.
 */
final class Cgroups {

  /** Where each run's or session's cgroup v2 is made, or null without cgroup v2. */
  final Path base;
  /** The leaf the agent moved itself into, or null where it stayed where it was. */
  final Path self;
  /** The agent's own cgroup before it moved. */
  final Path own;
  /** {@link #own} as /proc names it (relative to the hierarchy's root as the agent sees it). */
  private final String ownInProc;
  /** Whether the agent gave {@code pids} to the children of {@link #own} itself. */
  final boolean enabledPidsInOwn;
  /** The same subtree in a cgroup v1 {@code pids} hierarchy, or null. */
  final Path pidsV1Base;
  /** Whether children of {@link #base} get {@code pids.max} in cgroup v2 itself. */
  final boolean pidsV2;
  /** What was found, for the log. */
  final String description;

  private Cgroups(Path base, Path self, Path own, String ownInProc, boolean enabledPidsInOwn,
      Path pidsV1Base, boolean pidsV2, String description) {
    this.base = base;
    this.self = self;
    this.own = own;
    this.ownInProc = ownInProc;
    this.enabledPidsInOwn = enabledPidsInOwn;
    this.pidsV1Base = pidsV1Base;
    this.pidsV2 = pidsV2;
    this.description = description;
  }

  static Cgroups none(String why) {
    return new Cgroups(null, null, null, null, false, null, false, why);
  }

  boolean hasPidsLimit() {
    return pidsV2 || pidsV1Base != null;
  }

  /**
   * Finds (or, as root, mounts) cgroup v2, and makes the agent's subtree in it. Never throws: what
   * cannot be done leaves a {@link Cgroups} without the part that failed, and says why.
   */
  static Cgroups setUp(boolean wantPids) {
    String name = "agent." + ProcessHandle.current().pid() + "."
        + Long.toHexString(System.nanoTime() & 0xffffffL);
    String ownInProc = v2PathOf(ProcessHandle.current().pid());
    Path own;
    try {
      own = ownV2(ownInProc);
      if (!Files.isDirectory(own)) {
        throw new IOException(own + " is not a directory");
      }
    } catch (IOException | RuntimeException e) {
      return none("cgroup v2 unavailable: " + e.getMessage());
    }
    sweepStale(own);
    Path base = own.resolve(name);
    Path self = own.resolve(name + ".self");
    boolean pidsV2 = false;
    boolean enabled = false;
    StringBuilder how = new StringBuilder("cgroup v2 at ").append(base);
    try {
      if (!Files.exists(own.resolve("cgroup.procs"))) {
        throw new IOException("no cgroup.procs in " + own);
      }
      // The agent moves into a leaf of its own. A process a run forks in the moment between its
      // start and its move into its cell is then born in that leaf, where the agent finds it
      // (see Containment); and the agent's cgroup, left empty, may give controllers to its
      // children (cgroup v2 allows no process in a cgroup that does).
      Files.createDirectory(self);
      try {
        write(self.resolve("cgroup.procs"), Long.toString(ProcessHandle.current().pid()));
      } catch (IOException e) {
        Files.delete(self);
        self = null;
        how.append(" (agent stays in its cgroup: ").append(e.getMessage()).append(')');
      }
      if (wantPids && words(own.resolve("cgroup.controllers")).contains("pids")) {
        pidsV2 = words(own.resolve("cgroup.subtree_control")).contains("pids");
        if (!pidsV2) {
          pidsV2 = enabled = tryWrite(own.resolve("cgroup.subtree_control"), "+pids");
        }
      }
      Files.createDirectory(base);
      if (pidsV2) {
        pidsV2 = tryWrite(base.resolve("cgroup.subtree_control"), "+pids");
      }
      if (!Files.exists(base.resolve("cgroup.kill"))) {
        Files.delete(base);
        Cgroups c = new Cgroups(null, self, own, ownInProc, enabled, null, false, null);
        c.leave();
        return none("cgroup v2 without cgroup.kill (Linux before 5.14)");
      }
    } catch (IOException | RuntimeException e) {
      new Cgroups(null, self, own, ownInProc, enabled, null, false, null).leave();
      return none("cgroup v2 at " + own + " not usable: " + e);
    }
    Path pidsV1 = null;
    if (wantPids && !pidsV2) {
      pidsV1 = pidsV1Base(name);
    }
    how.append(pidsV2 ? ", pids.max in cgroup v2" : pidsV1 != null
        ? ", pids.max in cgroup v1 at " + pidsV1 : ", no pids controller");
    return new Cgroups(base, self, own, ownInProc, enabled, pidsV1, pidsV2, how.toString());
  }

  /**
   * Undoes what {@link #setUp} did to the agent's own cgroup: takes back the {@code pids}
   * controller, moves the agent back and removes its leaf. Call it once the subtree is gone.
   */
  void leave() {
    if (self == null || own == null) {
      return;
    }
    if (enabledPidsInOwn) {
      tryWrite(own.resolve("cgroup.subtree_control"), "-pids");
    }
    if (tryWrite(own.resolve("cgroup.procs"), Long.toString(ProcessHandle.current().pid()))) {
      try {
        Files.deleteIfExists(self);
      } catch (IOException e) {
        log.Log.debug("cgroup_not_removed", "path", self, "error", e.getMessage());
      }
    }
  }

  /**
   * The agent's own cgroup v2 directory, {@code rel} as /proc names it; mounts cgroup v2 first
   * where it is not mounted.
   */
  private static Path ownV2(String rel) throws IOException {
    if (rel == null) {
      throw new IOException("no cgroup v2 line in /proc/self/cgroup");
    }
    String[] mount = findMount("cgroup2", null);
    if (mount == null) {
      mount = mountV2();
    }
    return under(mount, rel);
  }

  /**
   * The cgroup v2 path of process {@code pid} as /proc shows it (relative to the hierarchy's
   * root), or null if the process is gone or shows none.
   */
  static String v2PathOf(long pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "cgroup"))) {
        if (line.startsWith("0::")) {
          return line.substring(3);
        }
      }
    } catch (IOException | RuntimeException e) {
      // Gone.
    }
    return null;
  }

  /** How /proc/PID/cgroup names {@code dir}, a cgroup under the agent's own. */
  String inProc(Path dir) {
    String rel = own.relativize(dir).toString();
    return ownInProc.endsWith("/") ? ownInProc + rel : ownInProc + "/" + rel;
  }

  /** The mount point of {@code rel}, a path in the hierarchy mounted as {@code mount}. */
  private static Path under(String[] mount, String rel) throws IOException {
    String root = mount[1];
    if (!root.equals("/")) {
      if (!rel.equals(root) && !rel.startsWith(root + "/")) {
        throw new IOException("own cgroup " + rel + " is outside the mounted " + root);
      }
      rel = rel.substring(root.length());
    }
    Path dir = Path.of(mount[0]);
    for (String part : rel.split("/")) {
      if (!part.isEmpty()) {
        dir = dir.resolve(part);
      }
    }
    return dir;
  }

  /**
   * {mount point, root within the hierarchy} of the first mount of file system type {@code type}
   * (whose super options include {@code option}, if given), from /proc/self/mountinfo; or null.
   */
  static String[] findMount(String type, String option) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
      int dash = line.indexOf(" - ");
      if (dash < 0) {
        continue;
      }
      String[] pre = line.substring(0, dash).split(" ");
      String[] post = line.substring(dash + 3).split(" ");
      if (pre.length < 5 || post.length < 1 || !post[0].equals(type)) {
        continue;
      }
      // A mount hidden under a later one is still listed; its directory then shows the other.
      if (!Files.exists(Path.of(unescape(pre[4]), "cgroup.procs"))) {
        continue;
      }
      if (option != null && (post.length < 3 || !List.of(post[2].split(",")).contains(option))) {
        continue;
      }
      return new String[] {unescape(pre[4]), unescape(pre[3])};
    }
    return null;
  }

  /** mountinfo escapes space, tab, newline and backslash as octal. */
  private static String unescape(String s) {
    if (s.indexOf('\\') < 0) {
      return s;
    }
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && i + 3 < s.length()) {
        b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
        i += 3;
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  /**
   * Mounts cgroup v2 where a VM's init usually would: on /sys/fs/cgroup when that is an empty
   * directory, or on /sys/fs/cgroup/unified beside cgroup v1. Needs root.
   */
  private static String[] mountV2() throws IOException {
    for (String target : new String[] {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
      Path t = Path.of(target);
      if (!Files.isDirectory(t)) {
        continue;
      }
      try (var entries = Files.list(t)) {
        if (entries.findAny().isPresent()) {
          continue;
        }
      }
      int rc;
      try {
        rc = LibC.mount("cgroup2", target, "cgroup2",
            LibC.MS_NOSUID | LibC.MS_NODEV | LibC.MS_NOEXEC, null);
      } catch (LinkageError e) {
        throw new IOException("cgroup v2 not mounted, and no C library to mount it");
      }
      if (rc == 0) {
        log.Log.info("cgroup_mounted", "path", target);
        return new String[] {target, "/"};
      }
      throw new IOException("cgroup v2 not mounted, and mounting it on " + target + " failed: "
          + "errno " + LibC.errno());
    }
    throw new IOException("cgroup v2 not mounted, and no empty /sys/fs/cgroup to mount it on");
  }

  /** The agent's subtree in a cgroup v1 hierarchy with the pids controller, or null. */
  private static Path pidsV1Base(String name) {
    try {
      String[] mount = findMount("cgroup", "pids");
      if (mount == null) {
        return null;
      }
      String rel = null;
      for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
        String[] f = line.split(":", 3);
        if (f.length == 3 && List.of(f[1].split(",")).contains("pids")) {
          rel = f[2];
        }
      }
      if (rel == null) {
        return null;
      }
      sweepStale(under(mount, rel));
      Path dir = under(mount, rel).resolve(name);
      Files.createDirectory(dir);
      return dir;
    } catch (IOException | RuntimeException e) {
      log.Log.warn("cgroup_v1_pids_unavailable", "error", e.getMessage());
      return null;
    }
  }

  /**
   * Removes what agents that are gone left in {@code parent} (an agent stopped by SIGKILL cannot
   * clean up): the empty {@code agent.<pid>.*} trees of pids that no longer exist. A tree that
   * still holds a process is left alone.
   */
  private static void sweepStale(Path parent) {
    try (var entries = Files.newDirectoryStream(parent, "agent.*")) {
      for (Path p : entries) {
        String[] f = p.getFileName().toString().split("\\.");
        if (f.length < 3 || !f[1].matches("\\d{1,10}")
            || Files.exists(Path.of("/proc", f[1]))) {
          continue;
        }
        removeEmptyTree(p);
      }
    } catch (IOException | RuntimeException e) {
      log.Log.debug("cgroup_sweep_failed", "path", parent, "error", e.toString());
    }
  }

  private static void removeEmptyTree(Path dir) throws IOException {
    try (var children = Files.list(dir)) {
      for (Path c : children.filter(Files::isDirectory).toList()) {
        removeEmptyTree(c);
      }
    }
    try {
      Files.delete(dir);
    } catch (IOException e) {
      // Still holds a process.
    }
  }

  /** The words of a one-line cgroup file. */
  static List<String> words(Path file) throws IOException {
    String s = Files.readString(file).trim();
    return s.isEmpty() ? List.of() : List.of(s.split("\\s+"));
  }

  /**
   * Writes a cgroup control file (no create, no truncate). Control files are written on every
   * run's path, so this is one open, write and close, without the file channel's machinery.
   */
  static void write(Path file, String value) throws IOException {
    if (!LibC.available()) {
      Files.write(file, value.getBytes(StandardCharsets.US_ASCII), StandardOpenOption.WRITE);
      return;
    }
    int fd = open(file, LibC.O_WRONLY);
    try {
      byte[] b = value.getBytes(StandardCharsets.US_ASCII);
      if (LibC.write(fd, b, b.length) != b.length) {
        throw new IOException(file + ": " + LibC.strerror(LibC.errno()));
      }
    } finally {
      LibC.close(fd);
    }
  }

  static boolean tryWrite(Path file, String value) {
    try {
      write(file, value);
      return true;
    } catch (IOException e) {
      log.Log.debug("cgroup_write_failed", "file", file, "error", e.getMessage());
      return false;
    }
  }

  /** Whether the cgroup at {@code dir} has no live process in it or below it. */
  static boolean empty(Path dir) {
    String events;
    try {
      events = read(dir.resolve("cgroup.events"));
    } catch (IOException e) {
      // Gone already.
      return true;
    }
    return unpopulated(events);
  }

  /** The pids in a cgroup (v1 or v2), or none where it is gone. */
  static long[] procs(Path dir) {
    try {
      return pids(read(dir.resolve("cgroup.procs")));
    } catch (IOException e) {
      return new long[0];
    }
  }

  /** The pids in the {@code cgroup.procs} file held open as {@code fd}, or none. */
  static long[] procs(int fd) {
    try {
      return pids(readAt(fd));
    } catch (IOException e) {
      return new long[0];
    }
  }

  private static long[] pids(String all) {
    long[] pids = new long[8];
    int n = 0;
    long v = -1;
    for (int i = 0; i < all.length(); i++) {
      char ch = all.charAt(i);
      if (ch >= '0' && ch <= '9') {
        v = (v < 0 ? 0 : v * 10) + (ch - '0');
      } else if (v >= 0) {
        if (n == pids.length) {
          pids = java.util.Arrays.copyOf(pids, n * 2);
        }
        pids[n++] = v;
        v = -1;
      }
    }
    if (v >= 0) {
      pids = java.util.Arrays.copyOf(pids, n + 1);
      pids[n++] = v;
    }
    return java.util.Arrays.copyOf(pids, n);
  }

  /**
   * Opens a control file to be used many times (with {@link #writeFd} or {@link #readAt}), or
   * returns -1 where it cannot be opened, or without the C library.
   */
  static int openHeld(Path file, int flags) {
    if (!LibC.available()) {
      return -1;
    }
    try {
      return open(file, flags);
    } catch (IOException e) {
      return -1;
    }
  }

  private static final int F_DUPFD_CLOEXEC = 1030;
  /** Copies are numbered from here, above what a child's file actions put in place. */
  private static final int COPIES_FROM = 10;

  /**
   * Copies of {@code fds} (close-on-exec, numbered from 10), or null if one cannot be made; the
   * caller closes them.
   */
  static int[] copies(int... fds) {
    int[] out = new int[fds.length];
    for (int i = 0; i < fds.length; i++) {
      out[i] = LibC.fcntl(fds[i], F_DUPFD_CLOEXEC, COPIES_FROM);
      if (out[i] < 0) {
        for (int j = 0; j < i; j++) {
          LibC.close(out[j]);
        }
        return null;
      }
    }
    return out;
  }

  /** Writes {@code value} to a control file held open as {@code fd}. */
  static void writeFd(int fd, String value) throws IOException {
    byte[] b = value.getBytes(StandardCharsets.US_ASCII);
    if (LibC.write(fd, b, b.length) != b.length) {
      throw new IOException(LibC.strerror(LibC.errno()));
    }
  }

  /**
   * A control file held open as {@code fd}, whole and as it is now: a read at offset 0 makes the
   * kernel generate it anew, so the same descriptor serves every read, and a read that does not
   * fill the buffer reached the end.
   */
  static String readAt(int fd) throws IOException {
    byte[] chunk = new byte[512];
    StringBuilder text = new StringBuilder();
    long at = 0;
    while (true) {
      long got = LibC.pread(fd, chunk, chunk.length, at);
      if (got < 0 && LibC.errno() == LibC.EINTR) {
        continue;
      }
      if (got < 0) {
        throw new IOException(LibC.strerror(LibC.errno()));
      }
      if (got == 0) {
        return text.toString();
      }
      text.append(new String(chunk, 0, (int) got, StandardCharsets.US_ASCII));
      if (got < chunk.length) {
        // The kernel fills a read of a control file as far as the file goes.
        return text.toString();
      }
      at += got;
    }
  }

  /**
   * Whether a cgroup that is to serve again is there and holds no process, through its
   * {@code cgroup.events} held open as {@code fd} (or, with -1, read at {@code dir}). Unlike
   * {@link #empty(Path)}, a file that cannot be read answers false: a cgroup removed behind the
   * agent's back must not be given to a run, whose move would then fail.
   */
  static boolean emptyAndThere(int fd, Path dir) {
    try {
      return unpopulated(fd >= 0 ? readAt(fd) : read(dir.resolve("cgroup.events")));
    } catch (IOException e) {
      return false;
    }
  }

  private static boolean unpopulated(String events) {
    int at = events.indexOf("populated ");
    return at >= 0 && events.startsWith("0", at + "populated ".length());
  }

  /** A small control file, whole, read with one open and as few reads as it takes. */
  private static String read(Path file) throws IOException {
    if (!LibC.available()) {
      return Files.readString(file, StandardCharsets.US_ASCII);
    }
    int fd = open(file, LibC.O_RDONLY);
    try {
      byte[] chunk = new byte[512];
      StringBuilder text = new StringBuilder();
      while (true) {
        long got = LibC.read(fd, chunk, chunk.length);
        if (got < 0 && LibC.errno() == LibC.EINTR) {
          continue;
        }
        if (got < 0) {
          throw new IOException(file + ": " + LibC.strerror(LibC.errno()));
        }
        if (got == 0) {
          return text.toString();
        }
        text.append(new String(chunk, 0, (int) got, StandardCharsets.US_ASCII));
      }
    } finally {
      LibC.close(fd);
    }
  }

  /** Makes the cgroup {@code dir}; fails if it exists. */
  static void mkdir(Path dir) throws IOException {
    if (!LibC.available()) {
      Files.createDirectory(dir);
    } else if (LibC.mkdirat(LibC.AT_FDCWD, LibC.c(dir.toString()), 0755) != 0) {
      throw new IOException(dir + ": " + LibC.strerror(LibC.errno()));
    }
  }

  /**
   * Removes the cgroup {@code dir} if it holds no process (the kernel refuses otherwise, which is
   * the cheapest way to ask). True if it is gone.
   */
  static boolean rmdir(Path dir) {
    if (!LibC.available()) {
      try {
        Files.deleteIfExists(dir);
        return true;
      } catch (IOException e) {
        return false;
      }
    }
    return LibC.unlinkat(LibC.AT_FDCWD, LibC.c(dir.toString()), LibC.AT_REMOVEDIR) == 0
        || LibC.errno() == LibC.ENOENT;
  }

  private static int open(Path file, int flags) throws IOException {
    int fd = LibC.openat(LibC.AT_FDCWD, LibC.c(file.toString()), flags | LibC.O_CLOEXEC, 0);
    if (fd < 0) {
      throw new IOException(file + ": " + LibC.strerror(LibC.errno()));
    }
    return fd;
  }
}
