package files;

import java.io.IOException;
import java.util.List;
import sys.LibC;

/**
 * What a path named when it was walked: the descriptor of the directory that holds the final
 * component, the final name, and the final object itself when it exists. Every descriptor is an
 * O_PATH one, opened without following links, and was checked against the path rule. The
 * operation is then done relative to {@link #parentFd}, so it concerns the objects that were
 * checked, whatever the path names by then.
 */
final class Resolved implements AutoCloseable {
  /** The directory holding {@link #name}, or -1 when that directory does not exist. */
  final int parentFd;
  /** The final component ("." for the root directory itself). */
  final String name;
  /** The final object, or -1 when it does not exist. */
  final int fd;
  /** statx of {@link #fd}; null when it does not exist. */
  final FileCalls.Stat stat;
  /** The path walked, links resolved (but a final one not followed). */
  final String path;
  /** Why the parent is missing, when {@link #parentFd} is -1. */
  final IOException missing;

  Resolved(int parentFd, String name, int fd, FileCalls.Stat stat, String path,
      IOException missing) {
    this.parentFd = parentFd;
    this.name = name;
    this.fd = fd;
    this.stat = stat;
    this.path = path;
    this.missing = missing;
  }

  boolean exists() {
    return fd >= 0;
  }

  byte[] cname() {
    return LibC.c(name);
  }

  /** The parent directory's descriptor; fails with the reason it is missing. */
  int parent() throws IOException {
    if (parentFd < 0) {
      throw missing;
    }
    return parentFd;
  }

  /** The final object's stat; fails when it does not exist. */
  FileCalls.Stat existing() throws IOException {
    if (fd < 0) {
      throw missing != null ? missing : new java.nio.file.NoSuchFileException(path);
    }
    return stat;
  }

  static String join(List<String> names) {
    if (names.isEmpty()) {
      return "/";
    }
    StringBuilder sb = new StringBuilder();
    for (String n : names) {
      sb.append('/').append(n);
    }
    return sb.toString();
  }

  @Override
  public void close() {
    FileCalls.closeQuietly(fd);
    if (parentFd != fd) {
      FileCalls.closeQuietly(parentFd);
    }
  }
}
