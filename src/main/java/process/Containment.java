package process;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import log.Log;
import sys.LibC;
import sys.Threads;

/**
 * Keeps each run and each terminal session in a {@link Cell} of its own, and ends cells.
 *
 * <p>With cgroup v2 (see {@link Cgroups}) a cell is a cgroup: the process is moved into it
 * between its fork and its exec (see {@link Gate}), and everything it forks is born there,
 * whatever session it makes or however it double-forks. Killing a cell is one write to
 * {@code cgroup.kill}, a cost in proportion to the cell alone. A cell carries {@code pids.max}, so
 * a fork bomb in one run cannot fill the VM's process table. Where there is no gate, the process
 * is moved right after its start, and the moment between is covered by the sweep: if the process
 * had forked before the move, its cell is also swept through /proc (session and tag) when
 * killed. Once a cell is answered or killed and holds no process, its
 * cgroup is removed; until then, what a run left running stays in it, known to the agent, and
 * shutdown ends it. While runs keep coming, the emptied cgroup of an answered run that nothing
 * signalled serves a later run instead (a spare, see {@link #releaseAnswered}).
 *
 * <p>Without cgroup v2 (or with it switched off) a cell is its process's session and tag, and
 * kills go through {@link ProcessTree} in batches: every kill asked for while one pass is under
 * way joins the next, so a closing connection with 200 runs costs a few passes over /proc.
 *
 * <p>Kills, watches and tidying happen on one thread of its own (started when needed, gone when
 * idle); making, placing and passing on cells happen on the spawning thread, right around its
 * spawn.
 */
public final class Containment {
  private static volatile Containment installed;

  private final Cgroups cgroups;
  private final long pidsMax;
  private final AtomicLong nextCell = new AtomicLong();
  /** Cells whose cgroup still exists. */
  private final Set<Cell> live = ConcurrentHashMap.newKeySet();
  /** The same cells by tag, for the processes found in the agent's own leaf. */
  private final java.util.Map<String, Cell> byTag = new ConcurrentHashMap<>();
  /** Every cell opened whose process has not been started yet, by tag. */
  private final java.util.Map<String, Cell> unplaced = new ConcurrentHashMap<>();
  /** The same cells by the pid of their process, once placed. */
  private final java.util.Map<Long, Cell> byPid = new ConcurrentHashMap<>();
  private final ConcurrentLinkedQueue<Job> jobs = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean draining = new AtomicBoolean();
  private final ThreadPoolExecutor worker = new ThreadPoolExecutor(0, 1, 10, TimeUnit.SECONDS,
      new LinkedBlockingQueue<>(), Threads.factory("containment"));
  private final CgroupWatch watch = new CgroupWatch(this::emptied);
  private volatile boolean closed;

  private Containment(Cgroups cgroups, long pidsMax) {
    this.cgroups = cgroups;
    this.pidsMax = pidsMax;
    selfProcs = cgroups.base != null && cgroups.self != null
        ? Cgroups.openHeld(cgroups.self.resolve("cgroup.procs"), LibC.O_RDONLY) : -1;
  }

  /**
   * The agent's own leaf's {@code cgroup.procs}, held open for the agent's life: read after every
   * placement. Never closed, so that no read can ever go to a descriptor number reused since.
   */
  private final int selfProcs;

  /** The processes in the agent's own leaf. */
  private long[] inOwnLeaf() {
    return selfProcs >= 0 ? Cgroups.procs(selfProcs) : Cgroups.procs(cgroups.self);
  }

  private static boolean wantCgroups = true;
  private static long wantPidsMax = 4096;

  /**
   * How containment is to be set up, on first use.
   *
   * @param useCgroups false to use /proc alone
   * @param pidsMax {@code pids.max} of each cell; 0 for no limit
   */
  public static synchronized void configure(boolean useCgroups, long pidsMax) {
    wantCgroups = useCgroups;
    wantPidsMax = pidsMax;
  }

  /**
   * The containment of this agent, set up on first use (so that an agent that never starts a
   * process leaves no trace in the cgroup tree), which logs which way it works.
   */
  public static Containment get() {
    Containment c = installed;
    return c != null ? c : install();
  }

  private static synchronized Containment install() {
    if (installed == null) {
      Cgroups c = wantCgroups ? Cgroups.setUp(wantPidsMax > 0) : Cgroups.none("switched off");
      installed = new Containment(c, wantPidsMax);
      // Each process with a cgroup is placed between its fork and its exec (by the spawning
      // thread's gate), or else on the spawning thread right after its spawn, before the engine
      // does anything else with it.
      Containment c0 = installed;
      Launcher.addSpawnListener(new SpawnListener() {
        @Override
        public void spawned(long pid, String tag) {
          c0.spawned(pid, tag, false);
        }

        @Override
        public boolean placesEarly(String tag) {
          Cell cell = c0.unplaced.get(tag);
          return cell != null && cell.dir != null && !c0.closed;
        }

        @Override
        public boolean placeEarly(long pid, String tag) {
          return c0.spawned(pid, tag, true);
        }

        @Override
        public int[] cellFiles(String tag) {
          Cell cell = c0.unplaced.get(tag);
          return cell != null && !c0.closed ? cell.procsFiles() : null;
        }

        @Override
        public int cellDirectory(String tag) {
          Cell cell = c0.unplaced.get(tag);
          return cell != null && !c0.closed ? cell.directoryFile() : -1;
        }

        @Override
        public boolean placedItself(long pid, String tag) {
          Cell cell = c0.unplaced.remove(tag);
          if (cell == null) {
            return false;
          }
          cell.placedItself(pid);
          return true;
        }
      });
      if (c.base != null) {
        // Set up now, not on the first kill, which should cost no more than any other.
        installed.watch.start();
      }
      if (c.base != null) {
        Log.info("containment", "engine", "cgroup", "detail", c.description, "pids_max",
            c.hasPidsLimit() && wantPidsMax > 0 ? wantPidsMax : "none");
      } else {
        Log.info("containment", "engine", "proc", "detail", c.description);
      }
    }
    return installed;
  }

  /**
   * The last resort of a shutdown that ran out of time: kills every cell with one write, without
   * waiting for anything.
   */
  public static void killInstalledNow() {
    Containment c = installed;
    if (c != null && c.cgroups.base != null) {
      Cgroups.tryWrite(c.cgroups.base.resolve("cgroup.kill"), "1");
    }
  }

  /** Shutdown: {@link #close} on the containment in use, if any was set up. */
  public static void closeInstalled(long boundMs) {
    Containment c = installed;
    if (c != null) {
      c.close(boundMs);
    }
  }

  /** Whether cells are cgroups. */
  public boolean usesCgroups() {
    return cgroups.base != null;
  }

  /** Cells whose cgroup is still there (answered runs' leftovers included). */
  public int liveCells() {
    return live.size();
  }

  /**
   * A new cell for a process about to start: its tag for the environment, and (with cgroups) its
   * cgroup, made now. Blocking but short (a mkdir); call it where the spawn is called.
   *
   * @param kind "run" or "shell", part of the cgroup's name
   */
  public Cell open(String kind) {
    // Only runs give their cgroups back (see Cell#answered), and only runs take them.
    Held spare = closed || !kind.equals("run") ? null : spares.poll();
    if (spare != null) {
      spareCount.decrementAndGet();
      // An emptied cgroup of an earlier cell, with its pids.max already written.
      Cell cell = new Cell(spare.name);
      unplaced.put(cell.tag, cell);
      cell.dir = spare.dir;
      cell.v1 = spare.v1;
      cell.held = spare;
      spare.own(cell);
      live.add(cell);
      byTag.put(cell.tag, cell);
      return cell;
    }
    String name = kind + "." + nextCell.incrementAndGet();
    Path[] made = null;
    if (cgroups.base != null && !closed) {
      try {
        made = makeCgroups(name);
      } catch (IOException e) {
        // Taken already: something in the VM made a cgroup of that name, perhaps to take the
        // next cells' limits away. A name nobody can guess instead.
        Log.warn("cgroup_failed", "cell", name, "error", e.getMessage());
        name = name + "." + ProcessTree.newTag();
        try {
          made = makeCgroups(name);
        } catch (IOException again) {
          Log.warn("cgroup_failed", "cell", name, "error", again.getMessage());
        }
      }
    }
    Cell cell = new Cell(name);
    unplaced.put(cell.tag, cell);
    if (made != null) {
      cell.dir = made[0];
      cell.v1 = made[1];
      live.add(cell);
      byTag.put(cell.tag, cell);
      cell.held = new Held(cell.name, cell.dir, cell.v1);
      cell.held.own(cell);
    }
    return cell;
  }

  /**
   * Makes a cell's cgroup (and cgroup v1 pids directory) with its {@code pids.max}: both or, on
   * failure, neither. Returns the two directories (the second null where there is no v1).
   */
  private Path[] makeCgroups(String name) throws IOException {
    Path dir = cgroups.base.resolve(name);
    Cgroups.mkdir(dir);
    if (pidsMax > 0 && cgroups.pidsV2) {
      Cgroups.tryWrite(dir.resolve("pids.max"), Long.toString(pidsMax));
    }
    Path v1 = null;
    if (pidsMax > 0 && cgroups.pidsV1Base != null) {
      v1 = cgroups.pidsV1Base.resolve(name);
      try {
        Cgroups.mkdir(v1);
      } catch (IOException e) {
        Cgroups.rmdir(dir);
        throw e;
      }
      Cgroups.tryWrite(v1.resolve("pids.max"), Long.toString(pidsMax));
    }
    return new Path[] {dir, v1};
  }

  /**
   * The spawn listener: the process of an open cell was just started (or, {@code beforeExec}, is
   * waiting at its gate). Returns whether a cell took it.
   */
  private boolean spawned(long pid, String tag, boolean beforeExec) {
    Cell cell = unplaced.remove(tag);
    if (cell == null) {
      return false;
    }
    cell.place(pid, beforeExec);
    return true;
  }

  /**
   * Kills every process of these cells with SIGKILL, all in one batch, and removes their cgroups
   * once empty. Returns at once; completes when the signals are sent.
   */
  public CompletableFuture<Void> kill(Collection<Cell> cells) {
    return submit(new Job(List.copyOf(cells), LibC.SIGKILL));
  }

  /** Sends {@code signal} to every process of these cells, in one batch. */
  public CompletableFuture<Void> signal(Collection<Cell> cells, int signal) {
    return submit(new Job(List.copyOf(cells), signal));
  }

  /**
   * Shutdown: kills every cell still holding a process (leftovers included) with one write, and
   * removes the agent's cgroups, waiting at most about {@code boundMs} in all for them to empty:
   * two thirds of it for the cgroup v2 tree, the rest for the v1 directories. Blocking.
   */
  public void close(long boundMs) {
    closed = true;
    Path base = cgroups.base;
    if (base == null) {
      return;
    }
    // The sentinel is in the agent's own leaf, which goes last: it exits now, and is reaped by
    // the time the cells are empty.
    Sentinel.end();
    Cgroups.tryWrite(base.resolve("cgroup.kill"), "1");
    long start = System.nanoTime();
    long deadline = start + boundMs * 2 / 3 * 1_000_000;
    while ((!Cgroups.empty(base) || Sentinel.running()) && System.nanoTime() < deadline) {
      Thread.onSpinWait();
      try {
        Thread.sleep(1);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    for (Cell c : new ArrayList<>(live)) {
      c.remove();
    }
    removeSpares();
    remove(base);
    // cgroup v1 counts a killed process for a moment after the v2 tree is empty: the v1
    // directories get what is left, and at least a third of the bound.
    long v1Deadline = Math.max(start + boundMs * 1_000_000,
        System.nanoTime() + boundMs / 3 * 1_000_000);
    List<Path> v1 = new ArrayList<>(pendingV1);
    if (cgroups.pidsV1Base != null) {
      v1.add(cgroups.pidsV1Base);
      // What is still here left the v2 tree (root can move itself), so the kill above missed it.
      killV1Members(cgroups.pidsV1Base);
    }
    for (Path p : v1) {
      while (!remove(p) && System.nanoTime() < v1Deadline) {
        try {
          Thread.sleep(5);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
    }
    cgroups.leave();
    watch.close();
  }

  /** SIGKILL to every process in the cgroup v1 directory {@code dir} and those below it. */
  private static void killV1Members(Path dir) {
    for (long pid : Cgroups.procs(dir)) {
      LibC.signal(pid, LibC.SIGKILL);
    }
    try (var children = Files.newDirectoryStream(dir, Files::isDirectory)) {
      for (Path c : children) {
        killV1Members(c);
      }
    } catch (IOException | RuntimeException e) {
      // Gone.
    }
  }

  private static boolean remove(Path dir) {
    if (dir == null || Cgroups.rmdir(dir)) {
      return true;
    }
    Log.debug("cgroup_not_removed", "path", dir);
    return false;
  }


  /** cgroup v1 directories that could not be removed yet. */
  private final Set<Path> pendingV1 = ConcurrentHashMap.newKeySet();

  /** Tries to remove {@code dir} again after a delay that doubles, up to about 25 s in all. */
  private void retryV1(Path dir, int attempt) {
    pendingV1.add(dir);
    if (attempt > 8 || closed) {
      return;
    }
    java.util.concurrent.CompletableFuture.delayedExecutor(100L << attempt,
        TimeUnit.MILLISECONDS, worker).execute(() -> {
          if (!Files.exists(dir) || remove(dir)) {
            pendingV1.remove(dir);
          } else {
            retryV1(dir, attempt + 1);
          }
        });
  }

  /**
   * How long an answered cell may wait for a spawning thread to take its cgroup (see
   * {@link #releaseAnswered}) before the containment thread removes it.
   */
  static final long RELEASE_DELAY_MS = 100;
  /** Emptied cgroups kept for the next cells while runs keep coming. */
  static final int SPARES = 4;

  /**
   * A cell's cgroup (and cgroup v1 pids directory). Once it becomes a spare, the control files
   * every run uses are held open, so that a child moving itself in and asking whether the cell is
   * empty cost one system call each; a cgroup made for one run uses their paths, so the
   * descriptors held stay few (at most the spares and the runs that took one), and a cell left
   * with something running closes them. They are closed when the cgroup goes.
   */
  private static final class Held {
    final String name;
    final Path dir;
    final Path v1;
    /** Guarded by this: a descriptor is never used once closed (its number may be reused). */
    private int procs;
    /** Guarded by this: the cell the cgroup is for now, or null while it is a spare. */
    private Cell owner;
    /**
     * The v1 pids directory's {@code tasks}, which a child writes "0" to. Moving its one thread
     * moves the whole child, without the kernel's global lock that a move through
     * {@code cgroup.procs} takes for writing, and that holds up every fork and exit meanwhile.
     */
    private int v1Tasks;
    private int events;
    /** The cgroup's directory, which a run's child is cloned into. */
    private int directory;

    Held(String name, Path dir, Path v1) {
      this.name = name;
      this.dir = dir;
      this.v1 = v1;
      procs = v1Tasks = events = directory = -1;
    }

    /** Opens the control files, once. */
    synchronized void holdFiles() {
      if (procs < 0) {
        procs = Cgroups.openHeld(dir.resolve("cgroup.procs"), LibC.O_WRONLY);
      }
      if (v1 != null && v1Tasks < 0) {
        v1Tasks = Cgroups.openHeld(v1.resolve("tasks"), LibC.O_WRONLY);
      }
      if (events < 0) {
        events = Cgroups.openHeld(dir.resolve("cgroup.events"), LibC.O_RDONLY);
      }
      if (directory < 0) {
        directory = Cgroups.openHeld(dir, LibC.O_RDONLY | LibC.O_DIRECTORY);
      }
    }

    synchronized void own(Cell cell) {
      owner = cell;
    }

    /** Moves {@code pid} in, if the cgroup is still {@code cell}'s. */
    synchronized void move(Cell cell, long pid) throws IOException {
      if (owner != cell) {
        throw new IOException("cell " + cell + " gave its cgroup up");
      }
      String p = Long.toString(pid);
      if (v1 != null) {
        Cgroups.write(v1.resolve("cgroup.procs"), p);
      }
      if (procs >= 0) {
        Cgroups.writeFd(procs, p);
      } else {
        Cgroups.write(dir.resolve("cgroup.procs"), p);
      }
    }

    /**
     * Copies of the held descriptors of the files a child moves itself in by (v1 pids
     * {@code tasks} first, then v2 {@code cgroup.procs}), if the cgroup is still {@code cell}'s;
     * null otherwise. Copies, so that closing the cgroup meanwhile can never leave the child a
     * descriptor number that names something else by then.
     */
    synchronized int[] procsFiles(Cell cell) {
      if (owner != cell || procs < 0 || (v1 != null && v1Tasks < 0)) {
        return null;
      }
      return v1 == null ? Cgroups.copies(procs) : Cgroups.copies(v1Tasks, procs);
    }

    /**
     * A copy of the held directory descriptor, if the cgroup is still {@code cell}'s; -1
     * otherwise. A copy, for the same reason as {@link #procsFiles}.
     */
    synchronized int directoryFile(Cell cell) {
      if (owner != cell || directory < 0) {
        return -1;
      }
      int[] copy = Cgroups.copies(directory);
      return copy == null ? -1 : copy[0];
    }

    /** Whether it can serve another cell now: there, and with no process in it. */
    synchronized boolean reusable() {
      return Cgroups.emptyAndThere(events, dir);
    }

    synchronized void closeFiles() {
      for (int fd : new int[] {procs, v1Tasks, events, directory}) {
        if (fd >= 0) {
          LibC.close(fd);
        }
      }
      procs = v1Tasks = events = directory = -1;
    }
  }

  private final ConcurrentLinkedQueue<Held> spares = new ConcurrentLinkedQueue<>();
  private final java.util.concurrent.atomic.AtomicInteger spareCount =
      new java.util.concurrent.atomic.AtomicInteger();
  /** Answered cells whose cgroup is still to be removed (or watched until empty). */
  private final ConcurrentLinkedQueue<Cell> toRelease = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean releaseScheduled = new AtomicBoolean();

  /**
   * Queues an answered cell's removal. A thread that spawns takes the queue after its spawn, so a
   * steady stream of runs removes cgroups without waking another thread for each; the containment
   * thread takes what is left after {@link #RELEASE_DELAY_MS}, one wake for a whole window.
   */
  private void queueRelease(Cell c) {
    toRelease.add(c);
    tidyLater();
  }

  /** Once per {@link #RELEASE_DELAY_MS} at most, while answered cells or spares wait. */
  private void tidyLater() {
    if (releaseScheduled.compareAndSet(false, true)) {
      CompletableFuture.delayedExecutor(RELEASE_DELAY_MS, TimeUnit.MILLISECONDS, worker)
          .execute(this::tidy);
    }
  }

  /**
   * The containment thread's part: removes what no spawning thread took, and the spares once no
   * spawn came for a whole {@link #RELEASE_DELAY_MS}, so an idle agent keeps no empty cgroup.
   */
  private void tidy() {
    releaseScheduled.set(false);
    release(false);
    if (System.nanoTime() - lastTaken < TimeUnit.MILLISECONDS.toNanos(RELEASE_DELAY_MS)) {
      if (!spares.isEmpty()) {
        tidyLater();
      }
      return;
    }
    removeSpares();
  }

  private void removeSpares() {
    Held spare;
    while ((spare = spares.poll()) != null) {
      spareCount.decrementAndGet();
      removeSpare(spare);
    }
  }

  /** When a spawning thread last took the answered cells (nanoTime). */
  private volatile long lastTaken = System.nanoTime();

  /**
   * On a spawning thread, after its spawn: the answered cells queued by now give their emptied
   * cgroups to the next cells (up to {@link #SPARES}); the others are removed, or watched until
   * empty.
   */
  public void releaseAnswered() {
    lastTaken = System.nanoTime();
    release(true);
  }

  private void release(boolean keepSpares) {
    Cell c;
    while ((c = toRelease.poll()) != null) {
      try {
        if (!(keepSpares && c.recycle())) {
          c.release();
        }
      } catch (RuntimeException e) {
        Log.warn("cgroup_release_failed", "cell", c.name, "error", e.toString());
      }
    }
  }

  private void removeSpare(Held spare) {
    spare.closeFiles();
    remove(spare.dir);
    if (spare.v1 != null && !remove(spare.v1)) {
      retryV1(spare.v1, 1);
    }
  }

  /** A batch of cells to signal. */
  private static final class Job {
    final List<Cell> cells;
    final int signal;
    final CompletableFuture<Void> done = new CompletableFuture<>();

    Job(List<Cell> cells, int signal) {
      this.cells = cells;
      this.signal = signal;
    }
  }

  private CompletableFuture<Void> submit(Job job) {
    for (Cell c : job.cells) {
      c.signalled();
    }
    jobs.add(job);
    if (draining.compareAndSet(false, true)) {
      worker.execute(this::drain);
    }
    return job.done;
  }

  /** Takes every job queued by now: cgroup writes first, then one /proc batch per signal. */
  private void drain() {
    while (true) {
      List<Job> batch = new ArrayList<>();
      Job j;
      while ((j = jobs.poll()) != null) {
        batch.add(j);
      }
      if (batch.isEmpty()) {
        draining.set(false);
        // A job queued after the poll and before the flag was cleared is taken now.
        if (jobs.isEmpty() || !draining.compareAndSet(false, true)) {
          return;
        }
        continue;
      }
      try {
        run(batch);
      } catch (RuntimeException e) {
        Log.error("kill_failed", "error", e.toString());
      } finally {
        batch.forEach(b -> b.done.complete(null));
      }
    }
  }

  private void run(List<Job> batch) {
    List<ProcessTree.Target> kills = new ArrayList<>();
    java.util.Map<Integer, List<ProcessTree.Target>> signals = new java.util.HashMap<>();
    int cgroupKills = 0;
    if (cgroups.self != null) {
      // A fork that was under way while a cell's process was placed may have been missed then:
      // what is still in the agent's own leaf joins its cell before the cells are killed.
      batch.stream().flatMap(j -> j.cells.stream()).filter(c -> c.dir != null).findFirst()
          .ifPresent(this::adoptStrays);
    }
    for (Job job : batch) {
      for (Cell c : job.cells) {
        c.ensurePlaced(false);
        boolean swept = c.dir == null || c.forkedBeforeMove || c.leftItsCgroup();
        if (job.signal == LibC.SIGKILL) {
          if (c.dir != null) {
            Cgroups.tryWrite(c.dir.resolve("cgroup.kill"), "1");
            cgroupKills++;
            c.release();
          }
          if (swept) {
            kills.add(c.target());
          }
        } else {
          if (c.dir != null) {
            for (long pid : Cgroups.procs(c.dir)) {
              LibC.signal(pid, job.signal);
            }
          }
          if (swept) {
            signals.computeIfAbsent(job.signal, k -> new ArrayList<>()).add(c.target());
          }
        }
      }
    }
    long scans = ProcessTree.SCANS.get();
    int swept = ProcessTree.kill(kills);
    signals.forEach((sig, targets) -> ProcessTree.signal(targets, sig));
    if (Log.enabled(Log.Level.DEBUG)) {
      Log.debug("kill_batch", "cgroups", cgroupKills, "swept_trees", kills.size(), "swept_pids",
          swept, "proc_scans", ProcessTree.SCANS.get() - scans);
    }
  }

  /** The watch saw the cgroup of {@code cell} change: removes it if it is empty. */
  private void emptied(Cell cell) {
    if (Cgroups.empty(cell.dir)) {
      cell.remove();
    }
  }

  /** Where one run's or session's processes live. */
  public final class Cell {
    final String name;
    private final String tag = ProcessTree.newTag();
    /** The cgroup v2 directory, or null. */
    volatile Path dir;
    /** The cgroup v1 pids directory, or null. */
    volatile Path v1;
    /** The control files of the cgroup, held open; null without a cgroup. */
    private volatile Held held;
    /** Guarded by the cell: see {@link #signalled()}. */
    private boolean signalled;
    private volatile long pid = -1;
    /** Set once the process was moved (or found gone); guarded by the cell. */
    private boolean placed;
    /** Killed as soon as its process is placed (see {@link #killOncePlaced}); guarded by it. */
    private boolean killOnPlace;
    /** The process may have forked before it was moved: sweep through /proc too. */
    volatile boolean forkedBeforeMove;
    private final AtomicBoolean released = new AtomicBoolean();
    private final AtomicBoolean removed = new AtomicBoolean();
    /** The watch descriptor while the cgroup is watched, or -1. */
    volatile int watchId = -1;

    private Cell(String name) {
      this.name = name;
    }

    /** The value of {@link ProcessTree#TAG_VARIABLE} for this cell's process. */
    public String tag() {
      return tag;
    }

    /** Whether the cell's process was moved into a cgroup of its own. */
    public boolean contained() {
      return dir != null && !forkedBeforeMove && pid > 0;
    }

    /** The cgroup v2 directory, or null. */
    public Path cgroup() {
      return dir;
    }

    ProcessTree.Target target() {
      return new ProcessTree.Target(pid, tag);
    }

    /**
     * Whether the cell's process is alive, still the agent's own child, and out of the cell's
     * cgroup: as root it can write itself into another cgroup, and a kill through the cell would
     * then miss it and what it starts. One read of /proc; the kill then sweeps the cell's tree.
     */
    boolean leftItsCgroup() {
      long p = pid;
      Path d = dir;
      if (p <= 0 || d == null || !Reaper.unreaped(p)) {
        return false;
      }
      String now = Cgroups.v2PathOf(p);
      return now != null && !now.equals(cgroups.inProc(d));
    }

    /**
     * The cell's process was just started as {@code pid}: moves it into the cell's cgroup, with
     * what it forked meanwhile (see {@link #adoptStrays}). Blocking (about half a millisecond,
     * mostly waiting in the kernel); call it right after the spawn. Done later, on another
     * thread, the move would leave a fork bomb time to multiply outside any limit.
     */
    public void place(long pid) {
      place(pid, false);
    }

    /**
     * As {@link #place(long)}; with {@code beforeExec} the process has not run its command yet,
     * so nothing can have strayed from it.
     */
    void place(long pid, boolean beforeExec) {
      this.pid = pid;
      if (dir != null) {
        byPid.put(pid, this);
      }
      ensurePlaced(beforeExec);
    }

    /**
     * Descriptors of the files a child moves itself into the cell by before its exec (the v1
     * pids {@code tasks} first, then the v2 {@code cgroup.procs}; see {@link ExecHelper}); the
     * caller closes them. Null without a cgroup, or if a file cannot be opened.
     */
    int[] procsFiles() {
      Held h = held;
      if (h != null) {
        int[] fds = h.procsFiles(this);
        if (fds != null) {
          return fds;
        }
      }
      Path d = dir;
      Path v = v1;
      if (d == null) {
        return null;
      }
      int v2 = Cgroups.openHeld(d.resolve("cgroup.procs"), LibC.O_WRONLY);
      if (v == null) {
        return v2 < 0 ? null : Cgroups.copies(v2);
      }
      int first = Cgroups.openHeld(v.resolve("tasks"), LibC.O_WRONLY);
      int[] fds = v2 < 0 || first < 0 ? null : Cgroups.copies(first, v2);
      for (int fd : new int[] {first, v2}) {
        if (fd >= 0) {
          LibC.close(fd);
        }
      }
      return fds;
    }

    /**
     * A descriptor of the cell's cgroup v2 directory, for a child to be born in it; the caller
     * closes it. A copy of the one a spare holds, or opened afresh, so that no descriptor the
     * cell holds can be closed under it; -1 without a cgroup, or if it cannot be opened.
     */
    int directoryFile() {
      Held h = held;
      if (h != null) {
        int fd = h.directoryFile(this);
        if (fd >= 0) {
          return fd;
        }
      }
      Path d = dir;
      return d == null ? -1 : LibC.openat(LibC.AT_FDCWD, LibC.c(d.toString()),
          LibC.O_RDONLY | LibC.O_DIRECTORY | LibC.O_CLOEXEC, 0);
    }

    /**
     * The cell's process, started as {@code pid}, moved itself in before its exec: recorded as
     * placed, and killed now if the run ended meanwhile.
     */
    synchronized void placedItself(long pid) {
      this.pid = pid;
      if (dir != null) {
        byPid.put(pid, this);
      }
      if (placed) {
        return;
      }
      placed = true;
      if (killOnPlace) {
        kill(List.of(this));
      }
    }

    /**
     * The run ended before its start did: kills the cell now, and again once its process is
     * placed, since a process moved in after a kill would not get it. Until then the process
     * may be waiting in its exec, which only a kill ends.
     */
    public void killOncePlaced() {
      synchronized (this) {
        killOnPlace = true;
      }
      kill(List.of(this));
    }

    /** Moves the process into the cell, once. */
    synchronized void ensurePlaced(boolean beforeExec) {
      if (placed || pid <= 0 || dir == null) {
        return;
      }
      placed = true;
      try {
        move(pid);
      } catch (IOException e) {
        // Exited already (what it forked is found below) or refused (then it is swept).
        forkedBeforeMove = ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
        Log.debug("cgroup_place_failed", "cell", name, "pid", pid, "error", e.getMessage());
      }
      if (killOnPlace) {
        kill(List.of(this));
      }
      if (beforeExec) {
        return;
      }
      if (cgroups.self != null) {
        adoptStrays(this);
      } else {
        forkedBeforeMove |= mayHaveForked(pid);
      }
    }

    void move(long p) throws IOException {
      Held h = held;
      if (h != null) {
        h.move(this, p);
        return;
      }
      Path d = dir;
      Path v = v1;
      if (d == null) {
        throw new IOException("cell " + name + " has no cgroup");
      }
      if (v != null) {
        Cgroups.write(v.resolve("cgroup.procs"), Long.toString(p));
      }
      Cgroups.write(d.resolve("cgroup.procs"), Long.toString(p));
    }

    /**
     * The run was answered. With {@code killLeftovers}, whatever it left running is killed now;
     * otherwise it stays in the cell until it exits or the agent shuts down. The cgroup goes
     * once it is empty.
     */
    public void answered(boolean killLeftovers) {
      // A spawn that failed placed nothing.
      unplaced.remove(tag, this);
      if (killLeftovers) {
        kill(List.of(this));
      } else if (dir != null) {
        // Off the caller's thread: removing the cgroup, or setting a watch, are system calls.
        queueRelease(this);
      }
    }

    /**
     * A signal or kill for the cell was asked for: its cgroup is never passed on, since the job
     * that sends it may still write to it.
     */
    synchronized void signalled() {
      signalled = true;
    }

    /**
     * Answered and empty: hands the cell's cgroup to the next cell instead of removing it, while
     * fewer than {@link #SPARES} wait. False if it is not empty or not wanted.
     */
    synchronized boolean recycle() {
      Held h = held;
      if (h == null || signalled || closed || released.get() || !h.reusable()) {
        return false;
      }
      if (spareCount.incrementAndGet() > SPARES) {
        spareCount.decrementAndGet();
        return false;
      }
      if (!released.compareAndSet(false, true) || !removed.compareAndSet(false, true)) {
        spareCount.decrementAndGet();
        return false;
      }
      live.remove(this);
      byTag.remove(tag);
      byPid.remove(pid, this);
      // This cell no longer has a cgroup: nothing done with it later can reach the next owner.
      h.own(null);
      held = null;
      dir = null;
      v1 = null;
      h.holdFiles();
      spares.add(h);
      if (Containment.this.closed) {
        // The shutdown may have taken the spares already: this one goes now.
        removeSpares();
      }
      return true;
    }

    /** Nothing more will be started in the cell: remove its cgroup once it is empty. */
    void release() {
      if (dir == null || !released.compareAndSet(false, true)) {
        return;
      }
      ensurePlaced(false);
      // Most cells are empty once answered: the kernel refuses to remove one that is not.
      remove();
      if (removed.get()) {
        return;
      }
      Held h = held;
      if (h != null) {
        // Something still runs in it, maybe for long: it keeps no descriptor meanwhile.
        h.closeFiles();
      }
      watchId = watch.add(this);
      if (watchId < 0 || Cgroups.empty(dir)) {
        // Emptied before the watch was set, or no watch: try now (later tries come from the
        // watch, or at shutdown).
        emptied(this);
      }
    }

    void remove() {
      Path d = dir;
      if (d == null || !Containment.remove(d)) {
        return;
      }
      if (!removed.compareAndSet(false, true)) {
        return;
      }
      Held h = held;
      if (h != null) {
        h.closeFiles();
      }
      if (v1 != null && !Containment.remove(v1)) {
        // cgroup v1 may still count the exited processes for a moment: try again shortly.
        retryV1(v1, 1);
      }
      live.remove(this);
      byTag.remove(tag);
      byPid.remove(pid, this);
      watch.forget(this);
    }

    @Override
    public String toString() {
      return name;
    }
  }

  /**
   * Moves every process but the agent (and its {@link Sentinel}) out of the agent's own leaf: a
   * process there was forked by a run or session before its move (or is one about to be moved).
   * Each goes to the cell its tag names, or to {@code placing} when it carries none. Repeats
   * while new ones appear, so a child forked meanwhile follows its parent. Costs a read of a file
   * that holds the agent and its sentinel alone unless something was forked in that moment.
   */
  private void adoptStrays(Cell placing) {
    long self = ProcessHandle.current().pid();
    List<Long> skipped = new ArrayList<>();
    for (int round = 0; round < 16; round++) {
      boolean moved = false;
      skipped.clear();
      for (long p : inOwnLeaf()) {
        if (p != self && !Sentinel.is(p) && adopt(p, self, placing, skipped)) {
          moved = true;
        }
      }
      if (!moved) {
        break;
      }
    }
    if (!skipped.isEmpty()) {
      recheckLater(placing, skipped, 1);
    }
  }

  /**
   * Moves {@code p}, found in the agent's own leaf, to its cell; adds it to {@code skipped}
   * instead if it may be a spawn in flight. Returns whether it was moved.
   */
  private boolean adopt(long p, long self, Cell placing, List<Long> skipped) {
    String tag = tagOf(p);
    long[] ps = null;
    if (tag == null) {
      if (!pastExec(p)) {
        // Another spawn in flight, which its own spawn places (moved here, it would end up in
        // the wrong cell and die with it), or a process in the middle of an exec, whose
        // environment cannot be read yet: looked at again shortly.
        skipped.add(p);
        return false;
      }
      // Its exec done, its environment is final now: it may carry a tag after all.
      tag = tagOf(p);
      ps = parentAndSession(p);
    }
    Cell owner;
    if (tag != null) {
      owner = byTag.get(tag);
      if (owner == null || owner.dir == null) {
        // Its cell has no cgroup (making one failed) or is gone: it stays here, where a kill of
        // its cell finds it through /proc. In another cell it would count against that cell's
        // limit and die with it.
        return false;
      }
    } else {
      // No tag (cleared): the cell whose process leads its session or is its parent, else the
      // one being placed.
      owner = byPid.get(ps[1]);
      if (owner == null) {
        owner = byPid.get(ps[0]);
      }
      if (owner == null || owner.dir == null) {
        owner = placing;
      }
    }
    try {
      owner.move(p);
      Log.debug("cgroup_stray_moved", "pid", p, "cell", owner.name);
      return true;
    } catch (IOException e) {
      // Exited meanwhile.
      return false;
    }
  }

  /**
   * Looks again, on the containment thread, at processes that {@link #adoptStrays} left in the
   * agent's leaf as possible spawns in flight: one that is still there once past its exec is an
   * orphan and joins its cell. A spawn in flight has been placed by its own spawn by then. The
   * delay doubles from 1 ms, for at most about half a second.
   */
  private void recheckLater(Cell placing, List<Long> pids, int attempt) {
    if (attempt > 9 || closed) {
      return;
    }
    List<Long> waiting = List.copyOf(pids);
    CompletableFuture.delayedExecutor(1L << (attempt - 1), TimeUnit.MILLISECONDS, worker)
        .execute(() -> {
          long self = ProcessHandle.current().pid();
          Set<Long> inLeaf = new java.util.HashSet<>();
          for (long p : inOwnLeaf()) {
            inLeaf.add(p);
          }
          List<Long> again = new ArrayList<>();
          for (long p : waiting) {
            if (inLeaf.contains(p)) {
              adopt(p, self, placing, again);
            }
          }
          if (!again.isEmpty()) {
            recheckLater(placing, again, attempt + 1);
          }
        });
  }

  /**
   * Whether {@code pid} is past its exec, so that its environment can be read:
   * it no longer runs the agent's own program (or the JDK's spawn helper, on the fallback
   * engine), and its new program's environment is set up ({@code env_start} in its stat is 0
   * until then; an empty environment has a start too). Read in the order the exec changes them,
   * so a spawn that moves on between the reads is never taken for one past its exec.
   */
  private static boolean pastExec(long pid) {
    try {
      Path exe = Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "exe"));
      if (exe.equals(Files.readSymbolicLink(Path.of("/proc/self/exe")))
          || exe.getFileName().toString().equals("jspawnhelper")) {
        return false;
      }
      ProcStat stat = ProcStat.read(pid);
      return stat != null && stat.envStart() != 0;
    } catch (IOException | RuntimeException e) {
      // Gone, or mid-exec: not moved now; a process that lives on is found at the next kill.
      return false;
    }
  }

  /** The parent and session of {@code pid}, or -1s. */
  private static long[] parentAndSession(long pid) {
    ProcStat p = ProcStat.read(pid);
    return p == null ? new long[] {-1, -1} : new long[] {p.ppid(), p.session()};
  }

  /** The value of the tag variable in {@code pid}'s environment, or null (none, or unreadable). */
  private static String tagOf(long pid) {
    byte[] env;
    try {
      env = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "environ"));
    } catch (IOException e) {
      return null;
    }
    String prefix = ProcessTree.TAG_VARIABLE + "=";
    String all = new String(env, java.nio.charset.StandardCharsets.ISO_8859_1);
    for (String entry : all.split("\0")) {
      if (entry.startsWith(prefix) && entry.length() > prefix.length()) {
        return entry.substring(prefix.length());
      }
    }
    return null;
  }

  /**
   * Whether {@code pid} may have started a process before it was moved: it has a child, live
   * or not yet reaped, or has reaped one (whose page faults then count in its own stat).
   */
  static boolean mayHaveForked(long pid) {
    Path proc = Path.of("/proc", Long.toString(pid));
    try (var tasks = Files.newDirectoryStream(proc.resolve("task"))) {
      for (Path t : tasks) {
        if (!Files.readString(t.resolve("children")).isBlank()) {
          return true;
        }
      }
      ProcStat p = ProcStat.read(pid);
      return p == null || p.cminflt() != 0;
    } catch (IOException | RuntimeException e) {
      return true;
    }
  }
}
