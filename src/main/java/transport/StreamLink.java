package transport;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.util.ArrayDeque;
import java.util.Arrays;
import protocol.Transport;
import sys.Threads;

/**
 * The fallback where Netty's native transport cannot load: a connection over a blocking socket
 * (AF_UNIX or AF_VSOCK through junixsocket). One thread reads
 * and hands chunks to the context; another writes what the context queued. Neither ever runs on
 * an event loop.
 */
final class StreamLink implements Link {
  private static final int CHUNK = 64 * 1024;
  /** Chunks handed to the context and not yet consumed before the reader waits. */
  private static final int MAX_PENDING_CHUNKS = 8;

  private final Socket socket;
  private final Transport transport;
  private final String peer;
  private final Context context;
  private final Object lock = new Object();
  private final ArrayDeque<Pending> writes = new ArrayDeque<>();
  private long queued;
  private volatile long progressAt = System.nanoTime();
  private boolean paused;
  private int pendingChunks;
  private boolean closing;
  private boolean closedNotified;
  private Handler<Void> closedHandler;

  private record Pending(byte[] bytes, Promise<Void> done) {}

  StreamLink(Socket socket, Transport transport, String peer, Context context) {
    this.socket = socket;
    this.transport = transport;
    this.peer = peer;
    this.context = context;
  }

  @Override
  public Transport transport() {
    return transport;
  }

  @Override
  public String peer() {
    return peer;
  }

  @Override
  public void start(Handler<byte[]> data, Handler<Void> closed) {
    this.closedHandler = closed;
    Threads.start("conn-read-" + peer, () -> readLoop(data));
    Threads.start("conn-write-" + peer, this::writeLoop);
  }

  private void readLoop(Handler<byte[]> data) {
    byte[] buf = new byte[CHUNK];
    try {
      InputStream in = socket.getInputStream();
      while (true) {
        synchronized (lock) {
          while ((paused || pendingChunks >= MAX_PENDING_CHUNKS) && !closing) {
            lock.wait();
          }
          if (closing) {
            // close() was called: the writer drains what is queued and shuts the socket.
            return;
          }
        }
        int n = in.read(buf);
        if (n < 0) {
          break;
        }
        byte[] chunk = Arrays.copyOf(buf, n);
        synchronized (lock) {
          pendingChunks++;
        }
        context.runOnContext(v -> {
          synchronized (lock) {
            pendingChunks--;
            lock.notifyAll();
          }
          data.handle(chunk);
        });
      }
    } catch (IOException | InterruptedException e) {
      // The socket was closed or reset; either way this connection is over.
    }
    shutdown();
  }

  private void writeLoop() {
    try {
      OutputStream out = socket.getOutputStream();
      while (true) {
        Pending p;
        synchronized (lock) {
          while (writes.isEmpty() && !closing) {
            lock.wait();
          }
          p = writes.poll();
          if (p == null) {
            break;
          }
        }
        try {
          out.write(p.bytes);
        } catch (IOException e) {
          context.runOnContext(v -> p.done.tryFail(e));
          break;
        }
        synchronized (lock) {
          queued -= p.bytes.length;
        }
        progressAt = System.nanoTime();
        context.runOnContext(v -> p.done.tryComplete());
      }
    } catch (IOException | InterruptedException e) {
      // Nothing more can be written.
    }
    shutdown();
  }

  @Override
  public Future<Void> write(byte[] bytes) {
    Promise<Void> done = Promise.promise();
    synchronized (lock) {
      if (closing) {
        done.fail("connection closed");
        return done.future();
      }
      if (writes.isEmpty()) {
        progressAt = System.nanoTime();
      }
      writes.add(new Pending(bytes, done));
      queued += bytes.length;
      lock.notifyAll();
    }
    return done.future();
  }

  @Override
  public long queuedBytes() {
    synchronized (lock) {
      return queued;
    }
  }

  @Override
  public long lastWriteProgress() {
    return progressAt;
  }

  @Override
  public void abort() {
    shutdown();
  }

  @Override
  public void pause() {
    synchronized (lock) {
      paused = true;
    }
  }

  @Override
  public void resume() {
    synchronized (lock) {
      paused = false;
      lock.notifyAll();
    }
  }

  @Override
  public void close() {
    // Let the writer finish what is queued, then it shuts the socket down.
    synchronized (lock) {
      closing = true;
      lock.notifyAll();
    }
    if (writesEmpty()) {
      shutdown();
    }
  }

  private boolean writesEmpty() {
    synchronized (lock) {
      return writes.isEmpty();
    }
  }

  /** Closes the socket once, fails what was never written, and tells the context. */
  private void shutdown() {
    ArrayDeque<Pending> failed;
    synchronized (lock) {
      closing = true;
      lock.notifyAll();
      if (closedNotified) {
        return;
      }
      closedNotified = true;
      failed = new ArrayDeque<>(writes);
      writes.clear();
      queued = 0;
    }
    try {
      socket.shutdownInput();
    } catch (IOException | UnsupportedOperationException e) {
      // Already closed.
    }
    try {
      socket.close();
    } catch (IOException e) {
      // Nothing to do.
    }
    context.runOnContext(v -> {
      for (Pending p : failed) {
        p.done.tryFail("connection closed");
      }
      if (closedHandler != null) {
        closedHandler.handle(null);
      }
    });
  }
}
