package process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * The native blocks that carry a command's argv and environment to its child: one grown for a
 * large command is not kept at that size once its spawn is over, since up to 32 blocks are kept
 * for later runs (and one per spawning thread), and a few commands of megabytes each would
 * otherwise hold that memory for the agent's whole life. Native memory a spawn no longer needs (a
 * run's beyond the 32 kept, an ending spawning thread's) is freed then, not at a later collection,
 * and a run's so freed asks for the C library's free memory to be trimmed once the agent is quiet.
 */
class PackedTest {
  /** An environment of about a megabyte, in entries the kernel would take. */
  private static String[] largeEnvironment() {
    String[] env = new String[10];
    char[] value = new char[100 * 1024];
    Arrays.fill(value, 'x');
    for (int i = 0; i < env.length; i++) {
      env[i] = "V" + i + "=" + new String(value);
    }
    return env;
  }

  @Test
  void aBlockGrownForALargeCommandShrinksBackOnceItsSpawnIsOver() {
    NativeSpawn.Packed p = new NativeSpawn.Packed(4096);
    p.pack(new String[] {"sh", "-c", "true"}, largeEnvironment());
    assertTrue(p.size() >= 1_000_000, "grown to hold the command: " + p.size());
    assertEquals("sh", p.argv().getPointer(0).getString(0));
    p.trim();
    assertEquals(4096, p.size());
    // Still usable, and grown again only as far as needed.
    p.pack(new String[] {"echo", "hi"}, new String[] {"A=1"});
    assertEquals(4096, p.size());
    assertEquals("A=1", p.envp().getPointer(0).getString(0));
  }

  @Test
  void aBlockOfOrdinarySizeIsKeptAsItIs() {
    NativeSpawn.Packed p = new NativeSpawn.Packed(4096);
    p.pack(new String[] {"x".repeat(20_000)}, new String[0]);
    long grown = p.size();
    assertTrue(grown > 4096 && grown <= NativeSpawn.Packed.KEPT_BYTES, "grown to " + grown);
    p.trim();
    assertEquals(grown, p.size(), "a block under the bound is not made again for every spawn");
  }

  @Test
  void whatARunsChildUsedIsGivenBackSmall() {
    NativeSpawn.Unconfirmed u = NativeSpawn.Unconfirmed.take("/");
    u.packed.pack(new String[] {"true"}, largeEnvironment());
    assertTrue(u.packed.size() >= 1_000_000);
    u.giveBack();
    assertTrue(u.packed.size() <= NativeSpawn.Packed.KEPT_BYTES, "kept " + u.packed.size());
  }

  @Test
  void whatABurstOfRunsUsedBeyondTheKeptIsFreedAtOnce() {
    java.util.List<NativeSpawn.Unconfirmed> burst = new java.util.ArrayList<>();
    for (int i = 0; i < NativeSpawn.Unconfirmed.KEEP + 100; i++) {
      NativeSpawn.Unconfirmed u = NativeSpawn.Unconfirmed.take("/");
      u.packed.pack(new String[] {"true"}, new String[] {"A=" + i});
      burst.add(u);
    }
    burst.forEach(NativeSpawn.Unconfirmed::giveBack);
    // Without a collection: those not kept no longer hold native memory.
    long freed = burst.stream().filter(u -> !u.memory.stack.valid() && !u.memory.args.valid()
        && !u.memory.params.valid() && !u.memory.tty.valid()
        && !((com.sun.jna.Memory) u.packed.argv()).valid()).count();
    assertTrue(freed >= burst.size() - NativeSpawn.Unconfirmed.KEEP, "freed " + freed);
    // What is kept still serves.
    NativeSpawn.Unconfirmed again = NativeSpawn.Unconfirmed.take("/");
    again.packed.pack(new String[] {"echo", "hi"}, new String[] {"B=2"});
    assertEquals("B=2", again.packed.envp().getPointer(0).getString(0));
    again.giveBack();
  }

  @Test
  void onlyARunBeyondTheKeptAsksForATrimOfTheFreedMemory() {
    RecordingLoop loop = new RecordingLoop();
    java.util.List<Runnable> armed = loop.scheduled;
    MemoryTrim.install(loop, 1000, () -> 0);
    try {
      // One run at a time: what it used is kept for the next.
      for (int i = 0; i < 3 * NativeSpawn.Unconfirmed.KEEP; i++) {
        NativeSpawn.Unconfirmed.take("/").giveBack();
      }
      assertEquals(0, armed.size());
      java.util.List<NativeSpawn.Unconfirmed> burst = new java.util.ArrayList<>();
      for (int i = 0; i < NativeSpawn.Unconfirmed.KEEP + 10; i++) {
        burst.add(NativeSpawn.Unconfirmed.take("/"));
      }
      burst.forEach(NativeSpawn.Unconfirmed::giveBack);
      assertEquals(1, armed.size());
      assertTrue(MemoryTrim.pending());
    } finally {
      MemoryTrim.install(null, 0, () -> 0);
    }
  }

  @Test
  void aSpawningThreadFreesItsScratchMemoryAsItEnds() throws Exception {
    java.util.concurrent.ExecutorService pool = SpawnPool.create(1);
    java.util.concurrent.CompletableFuture<NativeSpawn.Scratch> made =
        new java.util.concurrent.CompletableFuture<>();
    java.util.concurrent.CompletableFuture<Thread> thread =
        new java.util.concurrent.CompletableFuture<>();
    pool.execute(() -> {
      thread.complete(Thread.currentThread());
      NativeSpawn.Scratch scratch = NativeSpawn.scratch();
      scratch.packed.pack(new String[] {"true"}, new String[] {"A=1"});
      made.complete(scratch);
    });
    NativeSpawn.Scratch scratch = made.get(30, java.util.concurrent.TimeUnit.SECONDS);
    assertTrue(scratch.fa.valid() && scratch.clone.stack.valid());
    pool.shutdown();
    // The pool may count as terminated a moment before its thread's last step: wait for the thread.
    Thread t = thread.get(30, java.util.concurrent.TimeUnit.SECONDS);
    t.join(30_000);
    assertFalse(t.isAlive());
    assertFalse(scratch.fa.valid() || scratch.attr.valid() || scratch.clone.stack.valid()
        || scratch.clone.args.valid() || scratch.clone.params.valid() || scratch.clone.tty.valid()
        || ((com.sun.jna.Memory) scratch.packed.argv()).valid(), "freed as the thread ended");
  }
}
