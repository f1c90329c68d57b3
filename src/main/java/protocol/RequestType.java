package protocol;

import java.util.HashMap;
import java.util.Map;

/** Every request type, with its wire name. The first eleven are the reference protocol's. */
public enum RequestType {
  RUN("run"),
  SHELL("shell"),
  SHELL_INPUT("shell_input"),
  SHELL_RESIZE("shell_resize"),
  SHELL_CLOSE("shell_close"),
  PING("ping"),
  SHUTDOWN("shutdown"),
  WRITE_FILE("write_file"),
  READ_FILE("read_file"),
  REMOVE_FILE("remove_file"),
  MKDIR("mkdir"),
  // Additions (protocol.md part 2).
  STAT("stat"),
  LIST_DIR("list_dir"),
  RENAME("rename"),
  SHELL_ATTACH("shell_attach"),
  LIST_SESSIONS("list_sessions"),
  INFO("info");

  private static final Map<String, RequestType> BY_WIRE = new HashMap<>();

  static {
    for (RequestType t : values()) {
      BY_WIRE.put(t.wire, t);
    }
  }

  private final String wire;

  RequestType(String wire) {
    this.wire = wire;
  }

  public String wire() {
    return wire;
  }

  /** The type with this wire name, or null. */
  public static RequestType fromWire(String name) {
    return BY_WIRE.get(name);
  }
}
