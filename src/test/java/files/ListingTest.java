package files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import protocol.AgentException;
import protocol.RequestParser;
import protocol.Response;
import protocol.ResponseWriter;

/**
 * list_dir's packed entries, on real directories: the answer holds what a stat of each entry
 * says, in the order of the names' bytes, its length is known exactly before it is written, and
 * what it holds is asked of the budget first and is less than the answer's own size.
 */
class ListingTest {
  @TempDir
  Path tmp;

  private static final AtomicLong NO_LIMIT = new AtomicLong(Long.MAX_VALUE);

  private static Response list(Path dir, String id, AtomicLong budget, long[] taken)
      throws Exception {
    String body = new JsonObject().put("id", id).put("type", "list_dir")
        .put("path", dir.toString()).encode();
    return FileOps.list((protocol.Request.ListDir) RequestParser.parse(
        body.getBytes(StandardCharsets.UTF_8)), n -> {
      if (budget.addAndGet(-n) < 0) {
        budget.addAndGet(n);
        return false;
      }
      taken[0] += n;
      return true;
    });
  }

  @Test
  void oddNamesAreListedInByteOrderWithTheirStatAndAnExactLength() throws Exception {
    List<String> names = List.of("b", "a", "Z", "quote\"back\\slash", "tab\tnew\nline",
        "ctl\u0001", "é", "日本", "\uD83D\uDE00 emoji", "\uFFFD", "a".repeat(255));
    for (String n : names) {
      Files.writeString(tmp.resolve(n), n);
    }
    Files.createDirectory(tmp.resolve("sub"));
    Files.createSymbolicLink(tmp.resolve("link"), tmp.resolve("a"));
    long[] taken = {0};
    Response r = list(tmp, "id-1", NO_LIMIT, taken);
    byte[] json = ResponseWriter.json(r);
    assertEquals(json.length, ResponseWriter.length(r));
    JsonArray entries = new JsonObject(new String(json, StandardCharsets.UTF_8))
        .getJsonArray("entries");

    List<String> expected = new ArrayList<>(names);
    expected.add("sub");
    expected.add("link");
    expected.sort((x, y) -> java.util.Arrays.compareUnsigned(
        x.getBytes(StandardCharsets.UTF_8), y.getBytes(StandardCharsets.UTF_8)));
    assertEquals(expected.size(), entries.size());
    for (int i = 0; i < expected.size(); i++) {
      JsonObject e = entries.getJsonObject(i);
      String name = expected.get(i);
      assertEquals(name, e.getString("name"));
      Path p = tmp.resolve(name);
      String type = Files.isSymbolicLink(p) ? "symlink" : Files.isDirectory(p) ? "dir" : "file";
      assertEquals(type, e.getString("type"), name);
      if (type.equals("file")) {
        assertEquals(Files.size(p), e.getLong("size"), name);
      }
      assertEquals(Files.getLastModifiedTime(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)
          .toMillis(), e.getLong("mtime_ms"), name);
      assertEquals(List.of("name", "type", "size", "mode", "mtime_ms"),
          new ArrayList<>(e.fieldNames()));
    }
    assertTrue(taken[0] > 0);
  }

  @Test
  void whatAListingHoldsIsReservedAndIsLessThanItsAnswer() throws Exception {
    for (int i = 0; i < 20_000; i++) {
      Files.createFile(tmp.resolve(String.format("e%06d", i)));
    }
    long[] taken = {0};
    Response r = list(tmp, "x", NO_LIMIT, taken);
    long answer = ResponseWriter.length(r);
    // Chunks, the order and the sort's second copy of it, all asked for before being taken.
    assertTrue(taken[0] >= 20_000L * (2 + 7 + 25 + 8), taken[0] + " reserved");
    assertTrue(taken[0] < answer, taken[0] + " reserved for an answer of " + answer);
    JsonArray entries = new JsonObject(r.toString()).getJsonArray("entries");
    assertEquals(20_000, entries.size());
    assertEquals("e000000", entries.getJsonObject(0).getString("name"));
    assertEquals("e019999", entries.getJsonObject(19_999).getString("name"));
  }

  @Test
  void aListingThatTheBudgetCannotHoldIsBusyAndTakesNothingMore() throws Exception {
    for (int i = 0; i < 5_000; i++) {
      Files.createFile(tmp.resolve(String.format("e%06d", i)));
    }
    AtomicLong budget = new AtomicLong(100 * 1024);
    long[] taken = {0};
    AgentException e = assertThrows(AgentException.class, () -> list(tmp, "x", budget, taken));
    assertTrue(e.getMessage().startsWith("Busy: "), e.getMessage());
    assertEquals(100 * 1024, budget.get() + taken[0]);
    assertTrue(taken[0] <= 100 * 1024);
  }

  /** Stat of a file in tmp, through the same call a listing makes (AT_FDCWD and a full path). */
  private FileCalls.Stat stat(String name) {
    return FileCalls.statAt(-100, sys.LibC.c(tmp.resolve(name).toString()), false);
  }

  @Test
  void aDirectoryBeyondOneAnswerFailsAtItsLimit() throws Exception {
    for (int i = 0; i < 3; i++) {
      Files.createFile(tmp.resolve("f" + i));
    }
    Listing l = new Listing(n -> true, 2 + 2 * 80);
    l.add("f0\0".getBytes(StandardCharsets.UTF_8), stat("f0"));
    l.add("f1\0".getBytes(StandardCharsets.UTF_8), stat("f1"));
    AgentException e = assertThrows(AgentException.class, () -> l.add(
        "f2\0".getBytes(StandardCharsets.UTF_8), stat("f2")));
    assertEquals("Failed to list directory: Too many entries for one response: more than 2"
        + " (max " + protocol.Frames.MAX_FRAME + " bytes)", e.getMessage());
    assertEquals(2, l.size());
  }
}
