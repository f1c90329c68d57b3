package protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Each request type's record checks itself when parsed: a request that is well formed JSON but not
 * a valid request of its type becomes a {@link Request.Refused} with the contract's exact error,
 * under its own type and id, and a valid one becomes its record.
 */
class RequestRecordsTest {
  private static Request parse(String json) throws InvalidRequestException {
    return RequestParser.parse(json.getBytes(StandardCharsets.UTF_8));
  }

  @ParameterizedTest(name = "{0} -> {2}")
  @CsvSource(delimiter = '|', value = {
      "run|{}|No command specified",
      "run|{\"command\":null}|No command specified",
      "run|{\"command\":[]}|Empty command",
      // The command is checked before the input, as before.
      "run|{\"stdin_base64\":\"!!\"}|No command specified",
      "run|{\"command\":[],\"stdin_base64\":\"!!\"}|Empty command",
      "run|{\"command\":[\"cat\"],\"stdin_base64\":\"!!\"}"
          + "|Invalid base64: Illegal base64 character 21",
      "run|{\"command\":[\"cat\"],\"stdin_base64\":\"a===\"}"
          + "|Invalid base64: Last unit does not have enough valid bits",
      "shell_input|{}|No session_id specified",
      "shell_input|{\"input_base64\":\"!!\"}|No session_id specified",
      "shell_input|{\"session_id\":\"s\"}|No input specified",
      "shell_input|{\"session_id\":\"s\",\"input_base64\":\"ab=\"}"
          + "|Invalid base64: Input byte array has wrong 4-byte ending unit",
      "shell_resize|{\"rows\":3}|No session_id specified",
      "shell_close|{}|No session_id specified",
      "shell_attach|{}|No session_id specified",
      "write_file|{\"content_base64\":\"aGk=\"}|No path specified",
      "read_file|{}|No path specified",
      "remove_file|{\"recursive\":true}|No path specified",
      "mkdir|{}|No path specified",
      "stat|{}|No path specified",
      "list_dir|{}|No path specified",
      "rename|{\"new_path\":\"/y\"}|No path specified",
  })
  void refusedWithTheContractsText(String type, String fields, String error)
      throws Exception {
    String extra = fields.substring(1, fields.length() - 1);
    String json = "{\"id\":\"q\",\"type\":\"" + type + "\",\"auth_token\":\"t\""
        + (extra.isEmpty() ? "" : "," + extra) + "}";
    Request r = parse(json);
    assertEquals(new Request.Refused("q", RequestType.fromWire(type), error, "t"), r);
  }

  @Test
  void fieldShapesAreCheckedBeforeTheRecord() {
    // A bad field is a bad request, whatever else is missing: "Invalid request", not refused.
    InvalidRequestException e = assertThrows(InvalidRequestException.class,
        () -> parse("{\"id\":\"q\",\"type\":\"run\",\"cwd\":7}"));
    assertEquals("Invalid request: field 'cwd' must be a string", e.getMessage());
    assertEquals("q", e.id());
  }

  @Test
  void aShellKeepsAtMost256Arguments() throws Exception {
    List<String> args = new ArrayList<>();
    for (int i = 0; i < 257; i++) {
      args.add("\"a\"");
    }
    assertEquals(new Request.Refused("s", RequestType.SHELL,
        "Invalid request: a shell command has at most 256 arguments (got 257)", null),
        parse("{\"id\":\"s\",\"type\":\"shell\",\"command\":" + args + "}"));
    args.remove(0);
    assertEquals(256, assertInstanceOf(Request.Shell.class,
        parse("{\"id\":\"s\",\"type\":\"shell\",\"command\":" + args + "}")).command().size());
  }

  @Test
  void aShellKeepsAtMost16KiBOfIdAndCommand() throws Exception {
    // Id 2 bytes, "/bin/sh" 7 + 1, an argument of 16,374 bytes + 1: 16,385 in all.
    String big = "é".repeat(8187);
    String json = "{\"id\":\"ab\",\"type\":\"shell\",\"command\":[\"/bin/sh\",\"" + big + "\"]}";
    assertEquals(new Request.Refused("ab", RequestType.SHELL,
        "Invalid request: a shell session keeps its id and command, at most 16384 bytes "
            + "(got 16385)", null), parse(json));
    // One byte less fits.
    assertInstanceOf(Request.Shell.class, parse(json.replace("\"ab\"", "\"a\"")));
    // The default command counts too: an id of 16,377 bytes with "/bin/sh" is over.
    assertEquals("Invalid request: a shell session keeps its id and command, at most 16384 "
        + "bytes (got 16385)", assertInstanceOf(Request.Refused.class,
            parse("{\"id\":\"" + "x".repeat(16377) + "\",\"type\":\"shell\"}")).error());
  }

  @Test
  void validRequestsBecomeTheirRecords() throws Exception {
    assertEquals(new Request.Ping("p", null), parse("{\"id\":\"p\",\"type\":\"ping\"}"));
    assertEquals(new Request.Info("i", "t"),
        parse("{\"id\":\"i\",\"type\":\"info\",\"auth_token\":\"t\"}"));
    assertEquals(new Request.Shutdown("d", null), parse("{\"id\":\"d\",\"type\":\"shutdown\"}"));
    assertEquals(new Request.ListSessions("l", null),
        parse("{\"id\":\"l\",\"type\":\"list_sessions\",\"path\":\"/ignored\"}"));
    assertEquals(new Request.Rename("r", "/x", null, null),
        parse("{\"id\":\"r\",\"type\":\"rename\",\"path\":\"/x\"}"),
        "a missing new_path is the handler's to refuse, after the path rule");
    assertEquals(new Request.WriteFile("w", "/x", "!!", false, null, null),
        parse("{\"id\":\"w\",\"type\":\"write_file\",\"path\":\"/x\",\"content_base64\":\"!!\"}"),
        "content is the handler's to check, after the path rule");
    Request.ShellInput in = assertInstanceOf(Request.ShellInput.class,
        parse("{\"id\":\"i\",\"type\":\"shell_input\",\"session_id\":\"s\",\"input_base64\":\"\"}"));
    assertArrayEquals(new byte[0], in.input());
  }

  @Test
  void recordsMadeInCodeCheckThemselvesToo() {
    assertEquals("No command specified", assertThrows(AgentException.class,
        () -> new Request.Run("x", null, null, null, null, null, null, null, false, false, null))
        .getMessage());
    assertEquals("No path specified", assertThrows(AgentException.class,
        () -> new Request.Stat("x", null, null)).getMessage());
    assertEquals("No input specified", assertThrows(AgentException.class,
        () -> new Request.ShellInput("x", "s", null, null)).getMessage());
    assertEquals(List.of("/bin/sh"),
        new Request.Shell("x", List.of(), null, null, 24, 80, null).command());
  }
}
