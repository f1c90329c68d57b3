package cli;

import client.AgentClient;
import client.AgentError;
import client.DirEntry;
import client.FileChunk;
import client.FileStat;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** File commands: put, get, stat, ls, rm, mkdir. */
final class FileCommands {
  /** Bytes per request: 4 MiB is about 5.6 MiB as base64, well inside the 10 MiB frame limit. */
  static final int CHUNK = 4 * 1024 * 1024;

  private FileCommands() {}

  @Command(name = "put", description = {"Copies a local file (or - for stdin) to the agent.",
      "The data goes to a temporary file beside REMOTE, which replaces REMOTE once its size is"
          + " checked. A REMOTE that is a directory receives the file under its own name."})
  static final class Put extends AgentCtl.Sub implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "LOCAL")
    String local;

    @Parameters(index = "1", paramLabel = "REMOTE")
    String remote;

    @Override
    public Integer call() throws IOException {
      boolean fromStdin = local.equals("-");
      Path src = fromStdin ? null : Path.of(local);
      if (src != null && Files.isDirectory(src)) {
        throw new IOException(local + " is a directory");
      }
      long size = src == null ? -1 : Files.size(src);
      Integer mode = src == null ? null : permissions(src);
      try (AgentClient c = open();
          InputStream in = src == null ? System.in : Files.newInputStream(src)) {
        String target = remote;
        if (target.endsWith("/") || isDirectory(c, target)) {
          if (src == null) {
            throw new IOException(remote + " is a directory; name the file to write");
          }
          target = join(target, src.getFileName().toString());
        }
        String part = target + ".agentctl-" + HexFormat.of().toHexDigits(
            ThreadLocalRandom.current().nextInt()) + ".part";
        long sent = 0;
        boolean done = false;
        try (Progress progress = new Progress("put " + target, size)) {
          byte[] buf = new byte[CHUNK];
          boolean first = true;
          while (true) {
            int n = in.readNBytes(buf, 0, CHUNK);
            if (n == 0 && !first) {
              break;
            }
            byte[] data = n == CHUNK ? buf : java.util.Arrays.copyOf(buf, n);
            AgentClient.await(c.writeFile(part, data, !first, first ? mode : null));
            first = false;
            sent += n;
            progress.advance(n);
            if (n < CHUNK) {
              break;
            }
          }
          long written = AgentClient.await(c.stat(part)).size();
          if (written != sent) {
            throw new IOException("size check failed for " + target + ": sent " + sent
                + " bytes, the agent has " + written);
          }
          AgentClient.await(c.rename(part, target));
          done = true;
        } finally {
          if (!done) {
            try {
              AgentClient.await(c.remove(part, false));
            } catch (IOException e) {
              // Nothing was written, or the connection is gone; either way nothing to add.
            }
          }
        }
        return 0;
      }
    }

    private static boolean isDirectory(AgentClient c, String path) throws IOException {
      try {
        return AgentClient.await(c.stat(path)).isDirectory();
      } catch (AgentError e) {
        // Usually "no such file": the write that follows reports anything worse.
        return false;
      }
    }
  }

  @Command(name = "get", description = {"Copies a file from the agent (LOCAL - is stdout).",
      "It is read in chunks into a temporary file beside LOCAL, which replaces LOCAL once its"
          + " size is checked. A LOCAL that is a directory receives the file under its name."})
  static final class Get extends AgentCtl.Sub implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "REMOTE")
    String remote;

    @Parameters(index = "1", paramLabel = "LOCAL")
    String local;

    @Override
    public Integer call() throws IOException {
      try (AgentClient c = open()) {
        FileStat st = AgentClient.await(c.stat(remote));
        if (st.isDirectory()) {
          throw new IOException(remote + " is a directory");
        }
        if (local.equals("-")) {
          copy(c, st, new FileOutputStream(FileDescriptor.out));
          return 0;
        }
        Path dest = Path.of(local);
        if (Files.isDirectory(dest)) {
          dest = dest.resolve(baseName(remote));
        }
        Path dir = dest.toAbsolutePath().getParent();
        Path part;
        try {
          part = Files.createTempFile(dir, "." + dest.getFileName() + ".", ".part");
        } catch (java.nio.file.FileSystemException e) {
          // Named after what the user asked for, not the temporary file beside it.
          throw new IOException("cannot write " + dest + ": " + Failures.reason(e));
        }
        boolean done = false;
        try {
          try (OutputStream out = Files.newOutputStream(part)) {
            copy(c, st, out);
          }
          setPermissions(part, st.mode());
          Files.move(part, dest, StandardCopyOption.REPLACE_EXISTING,
              StandardCopyOption.ATOMIC_MOVE);
          done = true;
        } finally {
          if (!done) {
            Files.deleteIfExists(part);
          }
        }
        return 0;
      }
    }

    private void copy(AgentClient c, FileStat st, OutputStream out) throws IOException {
      long offset = 0;
      try (Progress progress = new Progress("get " + remote, st.size())) {
        while (true) {
          FileChunk chunk = AgentClient.await(c.readFile(remote, offset, CHUNK));
          out.write(chunk.data());
          offset += chunk.data().length;
          progress.advance(chunk.data().length);
          if (chunk.eof() || chunk.data().length == 0) {
            break;
          }
        }
      }
      out.flush();
      long now = AgentClient.await(c.stat(remote)).size();
      if (now != offset) {
        throw new IOException("size check failed for " + remote + ": received " + offset
            + " bytes, the file now has " + now + " (did it change during the copy?)");
      }
    }
  }

  @Command(name = "stat", description = "Shows a path's type, size, permissions and time.")
  static final class Stat extends AgentCtl.Sub implements Callable<Integer> {
    @Option(names = "--json", description = "prints a JSON array with one object per PATH:"
        + " path, type, size, mode, mtime_ms")
    boolean json;

    @Parameters(arity = "1..*", paramLabel = "PATH")
    List<String> paths;

    @Override
    public Integer call() throws IOException {
      try (AgentClient c = open()) {
        if (json) {
          JsonArray all = new JsonArray();
          for (String p : paths) {
            FileStat s = AgentClient.await(c.stat(p));
            all.add(new JsonObject().put("path", p).put("type", s.type()).put("size", s.size())
                .put("mode", s.mode()).put("mtime_ms", s.mtimeMs()));
          }
          Json.print(all);
          return 0;
        }
        for (String p : paths) {
          FileStat s = AgentClient.await(c.stat(p));
          System.out.printf("%s: %s, %d bytes, mode %s (%04o), modified %s%n", p, s.type(),
              s.size(), modeString(s.type(), s.mode()), s.mode() & 07777,
              Instant.ofEpochMilli(s.mtimeMs()));
        }
        return 0;
      }
    }
  }

  @Command(name = "ls", description = "Lists a directory.")
  static final class Ls extends AgentCtl.Sub implements Callable<Integer> {
    private static final DateTimeFormatter TIME =
        DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm").withZone(ZoneId.systemDefault());

    @Option(names = "-l", description = "type, permissions, size and time too")
    boolean longFormat;

    @Option(names = "--json", description = "prints a JSON array with one object per entry:"
        + " name, type, size, mode, mtime_ms")
    boolean json;

    @Parameters(arity = "0..1", paramLabel = "PATH", defaultValue = "/")
    String path;

    @Override
    public Integer call() throws IOException {
      try (AgentClient c = open()) {
        List<DirEntry> entries = AgentClient.await(c.listDir(path));
        if (json) {
          JsonArray all = new JsonArray();
          for (DirEntry e : entries) {
            all.add(new JsonObject().put("name", e.name()).put("type", e.type())
                .put("size", e.size()).put("mode", e.mode()).put("mtime_ms", e.mtimeMs()));
          }
          Json.print(all);
          return 0;
        }
        for (DirEntry e : entries) {
          String name = e.name() + ("dir".equals(e.type()) ? "/" : "");
          if (longFormat) {
            System.out.printf("%s %12d %s %s%n", modeString(e.type(), e.mode()), e.size(),
                TIME.format(Instant.ofEpochMilli(e.mtimeMs())), name);
          } else {
            System.out.println(name);
          }
        }
        return 0;
      }
    }
  }

  @Command(name = "rm", description = "Removes files (with -r, directory trees).")
  static final class Rm extends AgentCtl.Sub implements Callable<Integer> {
    @Option(names = {"-r", "--recursive"}, description = "remove directories and their contents")
    boolean recursive;

    @Parameters(arity = "1..*", paramLabel = "PATH")
    List<String> paths;

    @Override
    public Integer call() throws IOException {
      return eachPath(paths, (c, p) -> c.remove(p, recursive));
    }
  }

  @Command(name = "mkdir", description = "Creates directories.")
  static final class Mkdir extends AgentCtl.Sub implements Callable<Integer> {
    @Option(names = {"-p", "--parents"}, description = "create parents too; existing is fine")
    boolean parents;

    @Parameters(arity = "1..*", paramLabel = "PATH")
    List<String> paths;

    @Override
    public Integer call() throws IOException {
      return eachPath(paths, (c, p) -> c.mkdir(p, parents));
    }
  }

  static String join(String dir, String name) {
    return dir.endsWith("/") ? dir + name : dir + "/" + name;
  }

  static String baseName(String path) {
    String p = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
    return p.substring(p.lastIndexOf('/') + 1);
  }

  /** {@code drwxr-xr-x}-style text for a type and permission bits. */
  static String modeString(String type, int mode) {
    char t = switch (type == null ? "" : type) {
      case "dir" -> 'd';
      case "symlink" -> 'l';
      case "file" -> '-';
      default -> '?';
    };
    StringBuilder b = new StringBuilder().append(t);
    String rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++) {
      b.append((mode & (1 << (8 - i))) != 0 ? rwx.charAt(i) : '-');
    }
    return b.toString();
  }

  private static Integer permissions(Path p) {
    try {
      Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p);
      int mode = 0;
      for (PosixFilePermission perm : perms) {
        mode |= 1 << (8 - perm.ordinal());
      }
      return mode;
    } catch (IOException | UnsupportedOperationException e) {
      return null;
    }
  }

  private static void setPermissions(Path p, int mode) {
    Set<PosixFilePermission> perms = java.util.EnumSet.noneOf(PosixFilePermission.class);
    for (PosixFilePermission perm : PosixFilePermission.values()) {
      if ((mode & (1 << (8 - perm.ordinal()))) != 0) {
        perms.add(perm);
      }
    }
    try {
      Files.setPosixFilePermissions(p, perms);
    } catch (IOException | UnsupportedOperationException e) {
      // The copy is what matters; permissions are a courtesy.
    }
  }
}
