package client;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A typed client for one agent connection. Any number of requests may be in flight: each gets an
 * id, and one reading thread hands every frame to the request, run or session it belongs to.
 *
 * <p>Every call returns a {@link CompletableFuture}; a request the agent refuses fails with
 * {@link AgentError} carrying the agent's own text, and all pending calls fail with an
 * {@link IOException} when the connection ends. {@link #await} turns a future back into a
 * blocking call. Futures complete on the reading thread: code chained onto them must not block
 * waiting for another answer from the same client.
 */
public final class AgentClient implements AutoCloseable {
  private final AgentConnection connection;
  private final String address;
  private final String authToken;
  private final AtomicLong ids = new AtomicLong();
  private final Map<String, Pending> pending = new ConcurrentHashMap<>();
  private final Map<String, ShellSession> sessions = new ConcurrentHashMap<>();
  private final CompletableFuture<Void> closed = new CompletableFuture<>();
  private volatile boolean closing;

  /** A request waiting for its answer, with the run output listener if it is a streamed run. */
  private record Pending(JsonObject request, CompletableFuture<JsonObject> answer,
      OutputListener output, Consumer<JsonObject> onAnswer) {}

  private AgentClient(AgentConnection connection, String address, String authToken) {
    this.connection = connection;
    this.address = address;
    this.authToken = authToken;
    Thread reader = new Thread(this::readLoop, "agent-client-reader");
    reader.setDaemon(true);
    reader.start();
  }

  /** Connects to an address as accepted by {@link AgentConnection#open(String)}. */
  public static AgentClient connect(String address) throws IOException {
    return connect(address, null);
  }

  /** Connects and sends {@code authToken} (if not null) with every request. */
  public static AgentClient connect(String address, String authToken) throws IOException {
    return new AgentClient(AgentConnection.open(address), address, authToken);
  }

  public String address() {
    return address;
  }

  /** Completes when the connection has ended, for whatever reason. */
  public CompletableFuture<Void> closed() {
    return closed;
  }

  /**
   * Sends any request (an {@code id} is added, and the token if one was given) and completes
   * with its answer, or fails with {@link AgentError} when the answer carries {@code error}.
   */
  public CompletableFuture<JsonObject> request(JsonObject request) {
    return send(request, null, null);
  }

  public CompletableFuture<Void> ping() {
    return request(new JsonObject().put("type", "ping")).thenApply(r -> null);
  }

  public CompletableFuture<AgentInfo> info() {
    return request(new JsonObject().put("type", "info")).thenApply(r -> {
      JsonObject i = r.getJsonObject("info", new JsonObject());
      List<String> caps = new ArrayList<>();
      i.getJsonArray("capabilities", new JsonArray()).forEach(c -> caps.add(String.valueOf(c)));
      return new AgentInfo(i.getString("version"), i.getString("protocol"), List.copyOf(caps),
          i.getJsonObject("limits", new JsonObject()), i.getLong("uptime_ms", -1L), i);
    });
  }

  /**
   * Runs a command. With a listener the output is streamed to it as it appears (and the result's
   * output fields are empty); without one, the output is collected and comes in the result.
   */
  public CompletableFuture<RunResult> run(RunRequest run, OutputListener listener) {
    JsonObject req = new JsonObject().put("type", "run")
        .put("command", new JsonArray(new ArrayList<>(run.command())));
    if (run.cwd() != null) {
      req.put("cwd", run.cwd());
    }
    if (!run.env().isEmpty()) {
      req.put("env", new JsonObject(new java.util.LinkedHashMap<>(run.env())));
    }
    if (run.timeout() != null) {
      req.put("timeout_ms", Math.max(1, run.timeout().toMillis()));
    }
    if (run.stdin() != null) {
      req.put("stdin_base64", Base64.getEncoder().encodeToString(run.stdin()));
    }
    if (run.maxOutputBytes() != null) {
      req.put("max_output_bytes", run.maxOutputBytes());
    }
    if (listener != null) {
      req.put("stream", true);
    }
    // Raw bytes either way: streamed frames are base64, and so is collected output with this.
    req.put("output_encoding", "base64");
    return send(req, listener, null).thenApply(r -> {
      byte[] out = output(r, "stdout");
      byte[] err = output(r, "stderr");
      if (listener != null) {
        // An agent without streaming answers with everything at the end.
        if (out.length > 0) {
          listener.output(OutputListener.Stream.STDOUT, out);
        }
        if (err.length > 0) {
          listener.output(OutputListener.Stream.STDERR, err);
        }
        out = new byte[0];
        err = new byte[0];
      }
      return new RunResult(r.getInteger("exit_code", -1), r.getBoolean("timed_out", false),
          out, err, r.getBoolean("stdout_truncated", false),
          r.getBoolean("stderr_truncated", false));
    });
  }

  private static byte[] output(JsonObject r, String name) {
    String b64 = r.getString(name + "_base64");
    if (b64 != null) {
      return Base64.getDecoder().decode(b64);
    }
    String text = r.getString(name);
    return text == null ? new byte[0] : text.getBytes(StandardCharsets.UTF_8);
  }

  /** Writes (or, with append, adds to) a file; mode may be null. */
  public CompletableFuture<Void> writeFile(String path, byte[] data, boolean append,
      Integer mode) {
    JsonObject req = new JsonObject().put("type", "write_file").put("path", path)
        .put("content_base64", Base64.getEncoder().encodeToString(data));
    if (append) {
      req.put("append", true);
    }
    if (mode != null) {
      req.put("mode", mode);
    }
    return request(req).thenApply(r -> null);
  }

  /** Reads {@code length} bytes from {@code offset} (the agent may return fewer). */
  public CompletableFuture<FileChunk> readFile(String path, long offset, long length) {
    return request(new JsonObject().put("type", "read_file").put("path", path)
        .put("offset", offset).put("length", length)).thenApply(AgentClient::chunk);
  }

  /** Reads a whole file in one answer (small files only; big ones need {@link #readFile}). */
  public CompletableFuture<FileChunk> readFile(String path) {
    return request(new JsonObject().put("type", "read_file").put("path", path))
        .thenApply(AgentClient::chunk);
  }

  private static FileChunk chunk(JsonObject r) {
    byte[] data = Base64.getDecoder().decode(r.getString("content_base64", ""));
    return new FileChunk(data, r.getLong("size", -1L), r.getBoolean("eof", true));
  }

  public CompletableFuture<FileStat> stat(String path) {
    return request(new JsonObject().put("type", "stat").put("path", path)).thenApply(r -> {
      JsonObject s = r.getJsonObject("stat", new JsonObject());
      return new FileStat(s.getString("type"), s.getLong("size", 0L), s.getInteger("mode", 0),
          s.getLong("mtime_ms", 0L));
    });
  }

  public CompletableFuture<List<DirEntry>> listDir(String path) {
    return request(new JsonObject().put("type", "list_dir").put("path", path)).thenApply(r -> {
      List<DirEntry> out = new ArrayList<>();
      for (Object o : r.getJsonArray("entries", new JsonArray())) {
        JsonObject e = (JsonObject) o;
        out.add(new DirEntry(e.getString("name"), e.getString("type"), e.getLong("size", 0L),
            e.getInteger("mode", 0), e.getLong("mtime_ms", 0L)));
      }
      return out;
    });
  }

  /** Removes a file, or with recursive a whole directory tree. */
  public CompletableFuture<Void> remove(String path, boolean recursive) {
    JsonObject req = new JsonObject().put("type", "remove_file").put("path", path);
    if (recursive) {
      req.put("recursive", true);
    }
    return request(req).thenApply(r -> null);
  }

  /** Creates a directory; with parents, missing parents too (and an existing one is fine). */
  public CompletableFuture<Void> mkdir(String path, boolean parents) {
    return request(new JsonObject().put("type", "mkdir").put("path", path)
        .put("recursive", parents)).thenApply(r -> null);
  }

  public CompletableFuture<Void> rename(String from, String to) {
    return request(new JsonObject().put("type", "rename").put("path", from)
        .put("new_path", to)).thenApply(r -> null);
  }

  /**
   * Opens a terminal session. Its output goes to the listener from the moment it starts; the
   * future completes with the session once the agent reports it started.
   */
  public CompletableFuture<ShellSession> shell(ShellRequest shell, ShellListener listener) {
    JsonObject req = new JsonObject().put("type", "shell").put("rows", shell.rows())
        .put("cols", shell.cols());
    if (shell.command() != null) {
      req.put("command", new JsonArray(new ArrayList<>(shell.command())));
    }
    if (shell.cwd() != null) {
      req.put("cwd", shell.cwd());
    }
    if (!shell.env().isEmpty()) {
      req.put("env", new JsonObject(new java.util.LinkedHashMap<>(shell.env())));
    }
    return sessionRequest(req, listener);
  }

  /** Makes this connection the receiver of an existing session's output (its backlog first). */
  public CompletableFuture<ShellSession> attach(String sessionId, ShellListener listener) {
    return sessionRequest(new JsonObject().put("type", "shell_attach")
        .put("session_id", sessionId), listener);
  }

  private CompletableFuture<ShellSession> sessionRequest(JsonObject req, ShellListener listener) {
    CompletableFuture<ShellSession> started = new CompletableFuture<>();
    // Registered on the reading thread before it reads on, so no event can miss its session.
    Consumer<JsonObject> register = r -> {
      ShellSession s = new ShellSession(this, r.getString("session_id"), listener);
      sessions.put(s.id(), s);
      started.complete(s);
    };
    send(req, null, register).whenComplete((r, e) -> {
      if (e != null) {
        started.completeExceptionally(e);
      }
    });
    return started;
  }

  public CompletableFuture<List<SessionSummary>> sessions() {
    return request(new JsonObject().put("type", "list_sessions")).thenApply(r -> {
      List<SessionSummary> out = new ArrayList<>();
      for (Object o : r.getJsonArray("sessions", new JsonArray())) {
        JsonObject s = (JsonObject) o;
        List<String> cmd = new ArrayList<>();
        s.getJsonArray("command", new JsonArray()).forEach(c -> cmd.add(String.valueOf(c)));
        out.add(new SessionSummary(s.getString("session_id"), List.copyOf(cmd),
            s.getBoolean("running", false), s.getInteger("exit_code")));
      }
      return out;
    });
  }

  private CompletableFuture<JsonObject> send(JsonObject request, OutputListener output,
      Consumer<JsonObject> onAnswer) {
    String id = "c" + ids.incrementAndGet();
    JsonObject req = request.copy().put("id", id);
    if (authToken != null) {
      req.put("auth_token", authToken);
    }
    CompletableFuture<JsonObject> answer = new CompletableFuture<>();
    pending.put(id, new Pending(req, answer, output, onAnswer));
    if (closed.isDone()) {
      pending.remove(id);
      answer.completeExceptionally(new IOException("connection to " + address + " is closed"));
      return answer;
    }
    try {
      connection.send(req);
    } catch (IOException e) {
      pending.remove(id);
      answer.completeExceptionally(new IOException("cannot send to " + address + ": "
          + e.getMessage(), e));
    }
    return answer;
  }

  private void readLoop() {
    IOException end;
    try {
      while (true) {
        dispatch(connection.receive());
      }
    } catch (EOFException e) {
      end = new IOException("the agent at " + address + " closed the connection");
    } catch (IOException | RuntimeException e) {
      end = new IOException(closing ? "connection closed" : "connection to " + address
          + " failed: " + e.getMessage(), e);
    }
    closed.complete(null);
    for (String id : List.copyOf(pending.keySet())) {
      Pending p = pending.remove(id);
      if (p != null) {
        p.answer.completeExceptionally(end);
      }
    }
    for (ShellSession s : sessions.values()) {
      s.lost(end);
    }
    sessions.clear();
  }

  private void dispatch(JsonObject frame) {
    String id = frame.getString("id", "");
    String event = frame.getString("shell_event");
    if (frame.containsKey("stream") && !frame.containsKey("exit_code")) {
      Pending p = pending.get(id);
      String data = frame.getString("output_base64");
      if (p != null && p.output != null && data != null) {
        p.output.output("stderr".equals(frame.getString("stream"))
            ? OutputListener.Stream.STDERR : OutputListener.Stream.STDOUT,
            Base64.getDecoder().decode(data));
      }
      return;
    }
    if ("output".equals(event)) {
      ShellSession s = sessions.get(frame.getString("session_id", ""));
      if (s != null) {
        s.deliver(frame);
      }
      return;
    }
    if ("exited".equals(event) && !isCloseAnswer(frame)) {
      ShellSession s = sessions.remove(frame.getString("session_id", ""));
      if (s != null) {
        s.ended(frame.getInteger("exit_code", -1));
      }
      return;
    }
    Pending p = pending.remove(id);
    if (p == null) {
      if (id.isEmpty() && frame.containsKey("error")) {
        // A complaint about the connection itself (a frame it could not read): nobody's answer.
        AgentError e = new AgentError(frame.getString("error"));
        for (String k : List.copyOf(pending.keySet())) {
          Pending q = pending.remove(k);
          if (q != null) {
            q.answer.completeExceptionally(e);
          }
        }
      }
      return;
    }
    if (frame.containsKey("error")) {
      p.answer.completeExceptionally(new AgentError(String.valueOf(frame.getValue("error"))));
      return;
    }
    if (p.onAnswer != null) {
      p.onAnswer.accept(frame);
    }
    p.answer.complete(frame);
  }

  /** A shell_close answer looks like an exited event; it is told apart by its request. */
  private boolean isCloseAnswer(JsonObject frame) {
    Pending p = pending.get(frame.getString("id", ""));
    return p != null && "shell_close".equals(p.request.getString("type"))
        && frame.getString("session_id", "").equals(p.request.getString("session_id"));
  }

  /**
   * Waits for a future and returns its value; an agent error or connection failure is thrown
   * as the {@link IOException} it is.
   */
  public static <T> T await(CompletableFuture<T> future) throws IOException {
    try {
      return future.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while waiting for the agent");
    } catch (CancellationException e) {
      throw new IOException("cancelled", e);
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof IOException io) {
        throw io;
      }
      if (c instanceof RuntimeException re) {
        throw re;
      }
      throw new IOException(c);
    }
  }

  @Override
  public void close() throws IOException {
    closing = true;
    connection.close();
  }
}
