package protocol;

import java.util.List;
import java.util.Map;

/**
 * One request, typed: a record per request type, holding only the fields that type reads. Each
 * record checks itself when it is made, with the contract's error text ({@link AgentException}):
 * a record that exists is one its handler can serve as it is. What needs the file system (the
 * path rule) or the agent's state (sessions, limits) is checked by the handler.
 *
 * <p>{@link RequestParser} makes them; a request whose fields are well formed but do not make a
 * valid request of its type becomes a {@link Refused}, answered where the request would have
 * been served, once the checks every request goes through (token, limits) have passed.
 */
public sealed interface Request {
  /** The request's id, echoed in its answer; never null. */
  String id();

  RequestType type();

  /** {@code auth_token}, or null. */
  String authToken();

  /** How a run's output is carried in its response. */
  enum OutputEncoding {
    UTF8,
    BASE64
  }

  // ------------------------------------------------------------------------------------- run

  /**
   * {@code run}. {@code stdin} is {@code stdin_base64} decoded, or null. Absent flags are false,
   * an absent {@code output_encoding} is {@link OutputEncoding#UTF8}.
   */
  record Run(String id, List<String> command, String cwd, Map<String, String> env,
      Long timeoutMs, byte[] stdin, Long maxOutputBytes, OutputEncoding outputEncoding,
      boolean stream, boolean killLeftovers, String authToken) implements Request {
    public Run {
      requireCommand(command);
      outputEncoding = outputEncoding == null ? OutputEncoding.UTF8 : outputEncoding;
    }

    /** A run from its wire fields: the command is checked before the input is decoded. */
    static Run of(String id, List<String> command, String cwd, Map<String, String> env,
        Long timeoutMs, String stdinBase64, Long maxOutputBytes, OutputEncoding outputEncoding,
        boolean stream, boolean killLeftovers, String authToken) {
      requireCommand(command);
      return new Run(id, command, cwd, env, timeoutMs,
          stdinBase64 == null ? null : Errors.base64(stdinBase64), maxOutputBytes,
          outputEncoding, stream, killLeftovers, authToken);
    }

    private static void requireCommand(List<String> command) {
      if (command == null) {
        throw Errors.plain(Errors.NO_COMMAND);
      }
      if (command.isEmpty()) {
        throw Errors.plain(Errors.EMPTY_COMMAND);
      }
    }

    @Override
    public RequestType type() {
      return RequestType.RUN;
    }
  }

  // ---------------------------------------------------------------------------------- shells

  /**
   * {@code shell}. An absent or empty {@code command} is {@link #DEFAULT_COMMAND}; absent
   * {@code rows} and {@code cols} are 24 and 80.
   */
  record Shell(String id, List<String> command, String cwd, Map<String, String> env, int rows,
      int cols, String authToken) implements Request {
    public static final List<String> DEFAULT_COMMAND = List.of("/bin/sh");
    /**
     * What a session keeps of its {@code shell} request for its whole life, in UTF-8 bytes: its
     * id (every output frame carries it) and its command ({@code list_sessions} reports it), each
     * argument with the NUL the kernel counts. The environment and the rest are dropped once the
     * process has started.
     */
    public static final int MAX_KEPT_BYTES = 16 * 1024;
    /** Arguments a session's command may have: each is a string of its own in the heap. */
    public static final int MAX_KEPT_ARGS = 256;

    /**
     * Refuses a session whose id and command would keep more than {@link #MAX_KEPT_BYTES} (or
     * more than {@link #MAX_KEPT_ARGS} arguments) for its whole life: max_sessions of them are
     * part of the memory plan (config.MemoryPlan).
     */
    public Shell {
      command = command == null || command.isEmpty() ? DEFAULT_COMMAND : List.copyOf(command);
      if (command.size() > MAX_KEPT_ARGS) {
        throw Errors.plain(Errors.invalid("a shell command has at most " + MAX_KEPT_ARGS
            + " arguments (got " + command.size() + ")"));
      }
      long bytes = utf8Length(id);
      for (String a : command) {
        bytes += utf8Length(a) + 1;
      }
      if (bytes > MAX_KEPT_BYTES) {
        throw Errors.plain(Errors.invalid("a shell session keeps its id and command, at most "
            + MAX_KEPT_BYTES + " bytes (got " + bytes + ")"));
      }
    }

    @Override
    public RequestType type() {
      return RequestType.SHELL;
    }
  }

  /** A request for one session, which it names. */
  sealed interface SessionRequest extends Request {
    String sessionId();
  }

  /** {@code shell_input}: {@code input} is {@code input_base64} decoded. */
  record ShellInput(String id, String sessionId, byte[] input, String authToken)
      implements SessionRequest {
    public ShellInput {
      requireSession(sessionId);
      if (input == null) {
        throw Errors.plain(Errors.NO_INPUT);
      }
    }

    /** An input from its wire fields: the session and the input's presence come first. */
    static ShellInput of(String id, String sessionId, String inputBase64, String authToken) {
      requireSession(sessionId);
      if (inputBase64 == null) {
        throw Errors.plain(Errors.NO_INPUT);
      }
      return new ShellInput(id, sessionId, Errors.base64(inputBase64), authToken);
    }

    @Override
    public RequestType type() {
      return RequestType.SHELL_INPUT;
    }
  }

  /** {@code shell_resize}; absent {@code rows} and {@code cols} are 24 and 80. */
  record ShellResize(String id, String sessionId, int rows, int cols, String authToken)
      implements SessionRequest {
    public ShellResize {
      requireSession(sessionId);
    }

    @Override
    public RequestType type() {
      return RequestType.SHELL_RESIZE;
    }
  }

  /** {@code shell_close}. */
  record ShellClose(String id, String sessionId, String authToken) implements SessionRequest {
    public ShellClose {
      requireSession(sessionId);
    }

    @Override
    public RequestType type() {
      return RequestType.SHELL_CLOSE;
    }
  }

  /** {@code shell_attach}. */
  record ShellAttach(String id, String sessionId, String authToken) implements SessionRequest {
    public ShellAttach {
      requireSession(sessionId);
    }

    @Override
    public RequestType type() {
      return RequestType.SHELL_ATTACH;
    }
  }

  /** {@code list_sessions}. */
  record ListSessions(String id, String authToken) implements Request {
    @Override
    public RequestType type() {
      return RequestType.LIST_SESSIONS;
    }
  }

  // ------------------------------------------------------------------ served by the connection

  /** {@code ping}. */
  record Ping(String id, String authToken) implements Request {
    @Override
    public RequestType type() {
      return RequestType.PING;
    }
  }

  /** {@code shutdown}. */
  record Shutdown(String id, String authToken) implements Request {
    @Override
    public RequestType type() {
      return RequestType.SHUTDOWN;
    }
  }

  /** {@code info}. */
  record Info(String id, String authToken) implements Request {
    @Override
    public RequestType type() {
      return RequestType.INFO;
    }
  }

  // ----------------------------------------------------------------------------------- files

  /**
   * A request the file verticle serves. {@code path} is never null; the path rule is applied
   * where the path is opened (files.PathPolicy), since it looks at what the path really names.
   */
  sealed interface FileRequest extends Request
      permits WriteFile, ReadFile, RemoveFile, Mkdir, Stat, ListDir, Rename {
    String path();

    /** Hands this request to the method of {@code h} that serves its type. */
    <T> T accept(FileHandler<T> h);
  }

  /** One method per file request type, so that serving them all is checked by the compiler. */
  interface FileHandler<T> {
    T write(WriteFile r);

    T read(ReadFile r);

    T remove(RemoveFile r);

    T mkdir(Mkdir r);

    T stat(Stat r);

    T list(ListDir r);

    T rename(Rename r);
  }

  /**
   * {@code write_file}. {@code content_base64} is checked (present, then decodable) by the
   * handler, after the path rule: the contract puts the path's errors first.
   */
  record WriteFile(String id, String path, String contentBase64, boolean append, Integer mode,
      String authToken) implements FileRequest {
    public WriteFile {
      requirePath(path);
    }

    @Override
    public RequestType type() {
      return RequestType.WRITE_FILE;
    }

    @Override
    public <T> T accept(FileHandler<T> h) {
      return h.write(this);
    }
  }

  /** {@code read_file}; {@code offset} or {@code length} given make it a chunked read. */
  record ReadFile(String id, String path, Long offset, Long length, String authToken)
      implements FileRequest {
    public ReadFile {
      requirePath(path);
    }

    @Override
    public RequestType type() {
      return RequestType.READ_FILE;
    }

    @Override
    public <T> T accept(FileHandler<T> h) {
      return h.read(this);
    }
  }

  /** {@code remove_file}. */
  record RemoveFile(String id, String path, boolean recursive, String authToken)
      implements FileRequest {
    public RemoveFile {
      requirePath(path);
    }

    @Override
    public RequestType type() {
      return RequestType.REMOVE_FILE;
    }

    @Override
    public <T> T accept(FileHandler<T> h) {
      return h.remove(this);
    }
  }

  /** {@code mkdir}. */
  record Mkdir(String id, String path, boolean recursive, String authToken)
      implements FileRequest {
    public Mkdir {
      requirePath(path);
    }

    @Override
    public RequestType type() {
      return RequestType.MKDIR;
    }

    @Override
    public <T> T accept(FileHandler<T> h) {
      return h.mkdir(this);
    }
  }

  /** {@code stat}. */
  record Stat(String id, String path, String authToken) implements FileRequest {
    public Stat {
      requirePath(path);
    }

    @Override
    public RequestType type() {
      return RequestType.STAT;
    }

    @Override
    public <T> T accept(FileHandler<T> h) {
      return h.stat(this);
    }
  }

  /** {@code list_dir}. */
  record ListDir(String id, String path, String authToken) implements FileRequest {
    public ListDir {
      requirePath(path);
    }

    @Override
    public RequestType type() {
      return RequestType.LIST_DIR;
    }

    @Override
    public <T> T accept(FileHandler<T> h) {
      return h.list(this);
    }
  }

  /**
   * {@code rename}. A missing {@code new_path} is refused by the handler, after the rule has
   * been applied to {@code path}, as the contract orders the errors.
   */
  record Rename(String id, String path, String newPath, String authToken)
      implements FileRequest {
    public Rename {
      requirePath(path);
    }

    @Override
    public RequestType type() {
      return RequestType.RENAME;
    }

    @Override
    public <T> T accept(FileHandler<T> h) {
      return h.rename(this);
    }
  }

  // --------------------------------------------------------------------------------- refused

  /**
   * A request of {@code type} whose fields are well formed but not valid for it ({@code error}
   * is the contract's text, such as {@code No command specified}). It is answered with that
   * error, and counted under its type, where the request would have been served.
   */
  record Refused(String id, RequestType type, String error, String authToken)
      implements Request {}

  private static void requireSession(String sessionId) {
    if (sessionId == null) {
      throw Errors.plain(Errors.NO_SESSION);
    }
  }

  private static void requirePath(String path) {
    if (path == null) {
      throw Errors.plain(Errors.NO_PATH);
    }
  }

  private static long utf8Length(String s) {
    long n = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x80) {
        n += 1;
      } else if (c < 0x800) {
        n += 2;
      } else if (Character.isHighSurrogate(c) && i + 1 < s.length()
          && Character.isLowSurrogate(s.charAt(i + 1))) {
        n += 4;
        i++;
      } else {
        n += 3;
      }
    }
    return n;
  }
}
