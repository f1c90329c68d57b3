package client;

/** One entry of a directory listing. */
public record DirEntry(String name, String type, long size, int mode, long mtimeMs) {}
