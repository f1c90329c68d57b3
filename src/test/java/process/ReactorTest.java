package process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import sys.LibC;

/**
 * The reactor on real pipes, in this JVM. A child being spawned on another thread holds a copy of
 * every descriptor until its spawn closes them, so a pipe the reactor closes may live on for a
 * moment in another process: its registration in the epoll set must end with the close all the
 * same, or its events reach whatever the number is given to next.
 */
class ReactorTest {
  /** Calls the agent itself never makes: a second descriptor for an open pipe. */
  static final class Dup {
    static {
      Native.register(Dup.class, NativeLibrary.getInstance(Platform.C_LIBRARY_NAME));
    }

    static native int dup(int fd);

    static native int dup3(int oldfd, int newfd, int flags);
  }

  /** A sink that keeps what it is given and counts how often it is asked for room. */
  static final class Counting implements OutputSink {
    final AtomicInteger asked = new AtomicInteger();
    final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    final CompletableFuture<String> finished = new CompletableFuture<>();

    @Override
    public long room(Waker waker) {
      asked.incrementAndGet();
      return 1 << 16;
    }

    @Override
    public synchronized boolean write(byte[] b, int off, int len) {
      bytes.write(b, off, len);
      return true;
    }

    @Override
    public synchronized void finish() {
      finished.complete(bytes.toString(StandardCharsets.US_ASCII));
    }
  }

  @Test
  void aClosedPipeLeavesNoRegistrationWhileAnotherProcessMightHoldIt() throws Exception {
    Reactor reactor = Reactor.get();
    int[] a = pipe();
    // What a child being spawned meanwhile holds: the same pipe, under another number.
    int held = Dup.dup(a[0]);
    assertTrue(held >= 0);
    try {
      String inode = inode(held);
      Counting first = new Counting();
      new Channel(reactor, a[0], first, null, false).startReading();
      LibC.close(a[1]);
      assertEquals("", first.finished.get(10, TimeUnit.SECONDS));
      onReactor(reactor);
      assertEquals(List.of(), registrations(inode),
          "the pipe's registration outlived its close (the pipe is inode " + inode + ")");

      // The number goes to a new pipe that has nothing to read yet: its channel is asked for room
      // only for what really comes, not for the old pipe's end again and again.
      int[] b = pipe();
      if (b[0] != a[0]) {
        assertEquals(a[0], Dup.dup3(b[0], a[0], LibC.O_CLOEXEC));
        LibC.close(b[0]);
      }
      Counting second = new Counting();
      new Channel(reactor, a[0], second, null, false).startReading();
      onReactor(reactor);
      byte[] x = {'x'};
      assertEquals(1, LibC.write(b[1], x, 1));
      LibC.close(b[1]);
      assertEquals("x", second.finished.get(10, TimeUnit.SECONDS));
      assertTrue(second.asked.get() <= 4,
          "asked for room " + second.asked.get() + " times for one byte and an end");
    } finally {
      LibC.close(held);
    }
  }

  private static int[] pipe() {
    int[] p = new int[2];
    assertEquals(0, LibC.pipe2(p, LibC.O_CLOEXEC));
    LibC.fcntl(p[0], LibC.F_SETFL, LibC.O_NONBLOCK);
    return p;
  }

  /** Waits until the reactor has run everything handed to it so far. */
  private static void onReactor(Reactor reactor) throws Exception {
    CompletableFuture<Void> done = new CompletableFuture<>();
    reactor.execute(() -> done.complete(null));
    done.get(10, TimeUnit.SECONDS);
  }

  /** The pipe's inode, as /proc names it ("pipe:[123]"), in hexadecimal as fdinfo prints it. */
  private static String inode(int fd) throws Exception {
    String link = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
    String number = link.substring(link.indexOf('[') + 1, link.indexOf(']'));
    return Long.toHexString(Long.parseLong(number));
  }

  /** Every registration of that inode in every epoll set of this process. */
  private static List<String> registrations(String inode) throws Exception {
    List<String> found = new ArrayList<>();
    try (var fds = Files.list(Path.of("/proc/self/fd"))) {
      for (Path fd : fds.toList()) {
        String target;
        try {
          target = Files.readSymbolicLink(fd).toString();
        } catch (java.io.IOException gone) {
          continue;
        }
        if (!target.equals("anon_inode:[eventpoll]")) {
          continue;
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd.getFileName()))) {
          if (line.startsWith("tfd:") && line.matches(".*\\bino:\\s*" + inode + "\\b.*")) {
            found.add(line);
          }
        }
      }
    }
    return found;
  }
}
