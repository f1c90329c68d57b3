package client;

/** Part of a file: the bytes read, the whole file's size (-1 if unknown) and whether it ends here. */
public record FileChunk(byte[] data, long size, boolean eof) {}
