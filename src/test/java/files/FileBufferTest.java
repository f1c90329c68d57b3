package files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Memory;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import protocol.Request;
import protocol.RequestParser;
import protocol.Response;
import sys.ElasticPool;

/**
 * Each thread that serves file requests keeps a megabyte of native memory for its reads and
 * writes. A pool thread that ends frees it then, rather than leaving it to a later collection.
 */
class FileBufferTest {
  @TempDir
  Path tmp;

  @Test
  void aFileThreadFreesItsBufferAsItEnds() throws Exception {
    ElasticPool pool = ElasticPool.create(new ElasticPool.Shape("file-buffer-test", "file_test",
        1, 0, 1000, 30), FileOps::threadEnds, null);
    Path target = tmp.resolve("a.txt");
    String body = new JsonObject().put("id", "1").put("type", "write_file")
        .put("path", target.toString()).put("content_base64", "aGVsbG8K").encode();
    Request.WriteFile write = (Request.WriteFile) RequestParser.parse(
        body.getBytes(StandardCharsets.UTF_8));
    CompletableFuture<Response> answer = new CompletableFuture<>();
    CompletableFuture<Memory> used = new CompletableFuture<>();
    CompletableFuture<Thread> thread = new CompletableFuture<>();
    pool.execute(() -> {
      thread.complete(Thread.currentThread());
      answer.complete(FileOps.write(write));
      used.complete(FileCalls.buffer());
    });
    assertFalse(answer.get(30, TimeUnit.SECONDS).isError(), answer.get().toString());
    Memory buffer = used.get(30, TimeUnit.SECONDS);
    assertTrue(buffer.valid());
    assertEquals("hello\n", Files.readString(target));
    pool.shutdown();
    // The pool may count as terminated a moment before its thread's last step: wait for the thread.
    Thread t = thread.get(30, TimeUnit.SECONDS);
    t.join(30_000);
    assertFalse(t.isAlive());
    assertFalse(buffer.valid(), "the ended thread's buffer is freed");
  }

  @Test
  void aThreadThatReleasedItsBufferGetsANewOneOnItsNextWrite() throws Exception {
    Path target = tmp.resolve("b.txt");
    // O_WRONLY | O_CREAT | O_TRUNC, relative to the working directory (the path is absolute).
    int fd = sys.LibC.openat(-100, sys.LibC.c(target.toString()), 01 | 0100 | 01000, 0600);
    assertTrue(fd >= 0);
    try {
      FileCalls.writeAll(fd, "one\n".getBytes(StandardCharsets.UTF_8), target.toString());
      Memory first = FileCalls.buffer();
      FileOps.threadEnds();
      assertFalse(first.valid());
      FileCalls.writeAll(fd, "two\n".getBytes(StandardCharsets.UTF_8), target.toString());
      assertTrue(FileCalls.buffer().valid());
    } finally {
      sys.LibC.close(fd);
      FileOps.threadEnds();
    }
    assertEquals("one\ntwo\n", Files.readString(target));
  }
}
