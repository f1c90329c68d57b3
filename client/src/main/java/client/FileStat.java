package client;

/** What {@code stat} reports: type is file, dir, symlink or other; mode holds the permission bits. */
public record FileStat(String type, long size, int mode, long mtimeMs) {
  public boolean isDirectory() {
    return "dir".equals(type);
  }
}
