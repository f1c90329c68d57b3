package protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class RequestParserTest {

  private static Request parse(String json) throws InvalidRequestException {
    return RequestParser.parse(json.getBytes(StandardCharsets.UTF_8));
  }

  private static InvalidRequestException refused(String json) {
    return refused(json.getBytes(StandardCharsets.UTF_8));
  }

  private static InvalidRequestException refused(byte[] body) {
    InvalidRequestException e = assertThrows(InvalidRequestException.class,
        () -> RequestParser.parse(body), () -> new String(body, StandardCharsets.UTF_8));
    assertTrue(e.getMessage().startsWith("Invalid request: "), e.getMessage());
    assertTrue(e.getMessage().length() > "Invalid request: ".length(), "a reason follows");
    return e;
  }

  @ParameterizedTest
  @EnumSource(RequestType.class)
  void everyTypeByItsWireName(RequestType type) throws Exception {
    Request r = parse("{\"id\":\"t1\",\"type\":\"" + type.wire() + "\"}");
    assertEquals("t1", r.id());
    assertEquals(type, r.type());
  }

  @Test
  void referenceTypesHaveTheirSnakeCaseNames() {
    assertEquals(List.of("run", "shell", "shell_input", "shell_resize", "shell_close", "ping",
        "shutdown", "write_file", "read_file", "remove_file", "mkdir"),
        Stream.of(RequestType.values()).limit(11).map(RequestType::wire).toList());
  }

  @ParameterizedTest
  @ValueSource(strings = {"Ping", "PING", "shellInput", "ShellInput", " ping", "", "exec"})
  void typeNamesAreExact(String name) {
    InvalidRequestException e = refused("{\"id\":\"t\",\"type\":\"" + name + "\"}");
    assertEquals("t", e.id());
    assertTrue(e.getMessage().contains("unknown type"), e.getMessage());
  }

  private static <T extends Request> T parse(String json, Class<T> type)
      throws InvalidRequestException {
    Request r = parse(json);
    assertTrue(type.isInstance(r), () -> json + " -> " + r);
    return type.cast(r);
  }

  @Test
  void everyReferenceFieldIsRead() throws Exception {
    Request.Run run = parse("""
        {"id":"all","type":"run","command":["sh","-c","echo hi"],"cwd":"/tmp",
         "env":{"A":"1","B":""},"path":"/x","content_base64":"aGk=","recursive":true,
         "session_id":"s1","rows":40,"cols":120,"input_base64":"eA=="}""", Request.Run.class);
    assertEquals("all", run.id());
    assertEquals(RequestType.RUN, run.type());
    assertEquals(List.of("sh", "-c", "echo hi"), run.command());
    assertEquals("/tmp", run.cwd());
    assertEquals(Map.of("A", "1", "B", ""), run.env());
    Request.WriteFile w = parse("""
        {"id":"w","type":"write_file","path":"/x","content_base64":"aGk="}""",
        Request.WriteFile.class);
    assertEquals("/x", w.path());
    assertEquals("aGk=", w.contentBase64());
    assertTrue(parse("{\"id\":\"m\",\"type\":\"mkdir\",\"path\":\"/x\",\"recursive\":true}",
        Request.Mkdir.class).recursive());
    assertTrue(parse("{\"id\":\"m\",\"type\":\"remove_file\",\"path\":\"/x\","
        + "\"recursive\":true}", Request.RemoveFile.class).recursive());
    Request.Shell shell = parse("""
        {"id":"s","type":"shell","command":["/bin/bash"],"cwd":"/w","env":{"A":"1"},
         "rows":40,"cols":120}""", Request.Shell.class);
    assertEquals(List.of("/bin/bash"), shell.command());
    assertEquals("/w", shell.cwd());
    assertEquals(Map.of("A", "1"), shell.env());
    assertEquals(40, shell.rows());
    assertEquals(120, shell.cols());
    Request.ShellInput in = parse("""
        {"id":"i","type":"shell_input","session_id":"s1","input_base64":"eA=="}""",
        Request.ShellInput.class);
    assertEquals("s1", in.sessionId());
    assertArrayEquals(new byte[] {'x'}, in.input());
    Request.ShellResize rs = parse("""
        {"id":"r","type":"shell_resize","session_id":"s1","rows":50,"cols":200}""",
        Request.ShellResize.class);
    assertEquals("s1", rs.sessionId());
    assertEquals(50, rs.rows());
    assertEquals(200, rs.cols());
    assertEquals("s1", parse("{\"id\":\"c\",\"type\":\"shell_close\",\"session_id\":\"s1\"}",
        Request.ShellClose.class).sessionId());
  }

  @Test
  void additionsAreRead() throws Exception {
    Request.Run run = parse("""
        {"id":"add","type":"run","command":["cat"],"timeout_ms":1500,"stdin_base64":"AA==",
         "max_output_bytes":0,"output_encoding":"base64","stream":true,"kill_leftovers":true,
         "auth_token":"tok"}""", Request.Run.class);
    assertEquals(1500L, run.timeoutMs());
    assertArrayEquals(new byte[1], run.stdin());
    assertEquals(0L, run.maxOutputBytes());
    assertEquals(Request.OutputEncoding.BASE64, run.outputEncoding());
    assertTrue(run.stream());
    assertTrue(run.killLeftovers());
    assertEquals("tok", run.authToken());
    Request.ReadFile read = parse("""
        {"id":"add","type":"read_file","path":"/x","offset":7,"length":9}""",
        Request.ReadFile.class);
    assertEquals(7L, read.offset());
    assertEquals(9L, read.length());
    Request.WriteFile w = parse("""
        {"id":"w","type":"write_file","path":"/x","content_base64":"","append":true,
         "mode":420}""", Request.WriteFile.class);
    assertTrue(w.append());
    assertEquals(0644, w.mode());
    assertEquals("/y", parse("""
        {"id":"n","type":"rename","path":"/x","new_path":"/y"}""", Request.Rename.class)
        .newPath());
    assertEquals("s", parse("{\"id\":\"a\",\"type\":\"shell_attach\",\"session_id\":\"s\"}",
        Request.ShellAttach.class).sessionId());
  }

  @Test
  void absentFieldsAreNullAndDefaultsApply() throws Exception {
    Request.Shell r = parse("{\"id\":\"a\",\"type\":\"shell\"}", Request.Shell.class);
    assertEquals(List.of("/bin/sh"), r.command());
    assertNull(r.cwd());
    assertNull(r.env());
    assertEquals(24, r.rows());
    assertEquals(80, r.cols());
    assertNull(r.authToken());
    Request.Run run = parse("{\"id\":\"a\",\"type\":\"run\",\"command\":[\"ls\"]}",
        Request.Run.class);
    assertNull(run.cwd());
    assertNull(run.env());
    assertNull(run.timeoutMs());
    assertNull(run.stdin());
    assertNull(run.maxOutputBytes());
    assertEquals(Request.OutputEncoding.UTF8, run.outputEncoding());
    assertFalse(run.stream());
    assertFalse(run.killLeftovers());
    Request.WriteFile w = parse("{\"id\":\"a\",\"type\":\"write_file\",\"path\":\"/x\"}",
        Request.WriteFile.class);
    assertNull(w.contentBase64());
    assertFalse(w.append());
    assertNull(w.mode());
    Request.ReadFile rf = parse("{\"id\":\"a\",\"type\":\"read_file\",\"path\":\"/x\"}",
        Request.ReadFile.class);
    assertNull(rf.offset());
    assertNull(rf.length());
    assertFalse(parse("{\"id\":\"a\",\"type\":\"mkdir\",\"path\":\"/x\"}",
        Request.Mkdir.class).recursive());
    Request.ShellResize rs = parse(
        "{\"id\":\"a\",\"type\":\"shell_resize\",\"session_id\":\"s\"}",
        Request.ShellResize.class);
    assertEquals(24, rs.rows());
    assertEquals(80, rs.cols());
  }

  @Test
  void nullMeansAbsent() throws Exception {
    Request.Run r = parse("""
        {"id":"n","type":"run","command":["ls"],"cwd":null,"env":null,"path":null,
         "content_base64":null,"recursive":null,"session_id":null,"rows":null,"cols":null,
         "input_base64":null,"timeout_ms":null,"output_encoding":null,"mode":null,
         "auth_token":null,"stdin_base64":null,"stream":null}""", Request.Run.class);
    assertEquals("n", r.id());
    assertEquals(RequestType.RUN, r.type());
    assertNull(r.cwd());
    assertNull(r.env());
    assertNull(r.timeoutMs());
    assertNull(r.stdin());
    assertEquals(Request.OutputEncoding.UTF8, r.outputEncoding());
    assertFalse(r.stream());
    assertNull(r.authToken());
    assertEquals(new Request.Refused("n", RequestType.RUN, "No command specified", null),
        parse("{\"id\":\"n\",\"type\":\"run\",\"command\":null}"));
  }

  @Test
  void nullIdOrTypeIsRefused() {
    assertEquals("", refused("{\"id\":null,\"type\":\"ping\"}").id());
    InvalidRequestException e = refused("{\"id\":\"x\",\"type\":null}");
    assertEquals("x", e.id());
  }

  @Test
  void unknownFieldsAreIgnoredWhateverTheirShape() throws Exception {
    Request r = parse("""
        {"extra":1,"id":"u","nested":{"id":"not-me","type":"run","a":[1,{"b":[]}]},
         "type":"ping","list":[{"id":"nor-me"},[["x"]],null,true,1.5],"z":null,"s":"t"}""");
    assertEquals("u", r.id());
    assertEquals(RequestType.PING, r.type());
  }

  @Test
  void emptyStringsAndEmptyCollectionsArePresent() throws Exception {
    // An empty command is there, and refused as empty rather than as missing.
    assertEquals(new Request.Refused("", RequestType.RUN, "Empty command", null),
        parse("{\"id\":\"\",\"type\":\"run\",\"command\":[],\"env\":{},\"path\":\"\"}"));
    Request.Run run = parse("{\"id\":\"\",\"type\":\"run\",\"command\":[\"\"],\"env\":{}}",
        Request.Run.class);
    assertEquals("", run.id());
    assertEquals(List.of(""), run.command());
    assertEquals(Map.of(), run.env());
    assertEquals("", parse("{\"id\":\"\",\"type\":\"stat\",\"path\":\"\"}", Request.Stat.class)
        .path());
  }

  @Test
  void unicodeAndEscapesAreDecoded() throws Exception {
    Request.Run r = parse(
        "{\"id\":\"\\u00e9\\n\\\"\",\"type\":\"run\",\"command\":[\"échø\",\"😀\"]}",
        Request.Run.class);
    assertEquals("é\n\"", r.id());
    assertEquals(List.of("échø", "😀"), r.command());
  }

  @Test
  void whitespaceAroundTheObjectIsFine() throws Exception {
    assertEquals("w", parse(" \n\t{ \"id\" : \"w\" , \"type\" : \"ping\" } \r\n ").id());
  }

  @Test
  void rowsAndColsSpanU16() throws Exception {
    Request.Shell r = parse("{\"id\":\"r\",\"type\":\"shell\",\"rows\":0,\"cols\":65535}",
        Request.Shell.class);
    assertEquals(0, r.rows());
    assertEquals(65535, r.cols());
  }

  static Stream<Arguments> wrongTypes() {
    return Stream.of(
        Arguments.of("command", "\"ls -l\""),
        Arguments.of("command", "[\"ls\",1]"),
        Arguments.of("command", "[\"ls\",null]"),
        Arguments.of("command", "[[\"ls\"]]"),
        Arguments.of("command", "{\"0\":\"ls\"}"),
        Arguments.of("cwd", "7"),
        Arguments.of("cwd", "[\"/tmp\"]"),
        Arguments.of("env", "[\"A=1\"]"),
        Arguments.of("env", "{\"A\":1}"),
        Arguments.of("env", "{\"A\":{\"B\":\"c\"}}"),
        Arguments.of("env", "{\"A\":null}"),
        Arguments.of("env", "\"A=1\""),
        Arguments.of("path", "true"),
        Arguments.of("path", "{}"),
        Arguments.of("content_base64", "[]"),
        Arguments.of("recursive", "\"true\""),
        Arguments.of("recursive", "1"),
        Arguments.of("session_id", "12"),
        Arguments.of("rows", "-1"),
        Arguments.of("rows", "65536"),
        Arguments.of("rows", "24.0"),
        Arguments.of("rows", "\"24\""),
        Arguments.of("rows", "99999999999999999999999"),
        Arguments.of("cols", "1e2"),
        Arguments.of("cols", "[80]"),
        Arguments.of("input_base64", "{\"a\":\"b\"}"),
        Arguments.of("timeout_ms", "0"),
        Arguments.of("max_output_bytes", "-5"),
        Arguments.of("output_encoding", "\"hex\""),
        Arguments.of("stream", "\"yes\""),
        Arguments.of("offset", "-1"),
        Arguments.of("mode", "4096"),
        Arguments.of("auth_token", "123"));
  }

  @ParameterizedTest(name = "{0}: {1}")
  @MethodSource("wrongTypes")
  void wrongTypeIsRefusedWithTheIdAndTheFieldName(String field, String value) {
    InvalidRequestException before = refused(
        "{\"id\":\"w1\",\"type\":\"run\",\"" + field + "\":" + value + "}");
    assertEquals("w1", before.id());
    assertTrue(before.getMessage().contains(field), before.getMessage());
    // The id is still reported when it comes after the bad field, and a later field does not
    // confuse the parser.
    InvalidRequestException after = refused(
        "{\"type\":\"run\",\"" + field + "\":" + value + ",\"id\":\"w2\",\"cwd\":\"/\"}");
    assertEquals("w2", after.id());
    assertTrue(after.getMessage().contains(field), after.getMessage());
  }

  @Test
  void firstBadFieldDecidesTheReason() {
    InvalidRequestException e = refused(
        "{\"rows\":-1,\"type\":\"nope\",\"cols\":\"x\",\"id\":\"f\"}");
    assertEquals("f", e.id());
    assertTrue(e.getMessage().contains("rows"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"7", "true", "[\"id\"]", "{\"a\":\"b\"}"})
  void unreadableIdIsReportedEmpty(String id) {
    InvalidRequestException e = refused("{\"id\":" + id + ",\"type\":\"ping\"}");
    assertEquals("", e.id());
    assertTrue(e.getMessage().contains("id"), e.getMessage());
  }

  @Test
  void missingIdOrType() {
    InvalidRequestException noId = refused("{\"type\":\"ping\"}");
    assertEquals("", noId.id());
    assertEquals("Invalid request: missing field 'id'", noId.getMessage());
    InvalidRequestException noType = refused("{\"id\":\"m\"}");
    assertEquals("m", noType.id());
    assertEquals("Invalid request: missing field 'type'", noType.getMessage());
    InvalidRequestException typeNotString = refused("{\"id\":\"m2\",\"type\":3}");
    assertEquals("m2", typeNotString.id());
  }

  @ParameterizedTest
  @ValueSource(strings = {"", " ", "null", "42", "\"ping\"", "[]",
      "[{\"id\":\"a\",\"type\":\"ping\"}]", "not json", "{", "{\"id\":\"a\",\"type\":\"ping\"",
      "{\"id\":\"a\",\"type\":}", "{id:\"a\",type:\"ping\"}", "{'id':'a','type':'ping'}",
      "{\"id\":\"a\",,\"type\":\"ping\"}"})
  void notAnObjectOrNotJsonHasNoId(String body) {
    assertEquals("", refused(body).id());
  }

  @ParameterizedTest
  @ValueSource(strings = {"{\"id\":\"a\",\"type\":\"ping\"} x", "{\"id\":\"a\",\"type\":\"ping\"}}",
      "{\"id\":\"a\",\"type\":\"ping\"}{\"id\":\"b\",\"type\":\"ping\"}",
      "{\"id\":\"a\",\"type\":\"ping\"}[]", "{\"id\":\"a\",\"type\":\"ping\"} 1"})
  void trailingGarbageIsRefused(String body) {
    // Not one JSON value: refused as a whole, like any body that is not JSON.
    assertEquals("", refused(body).id());
  }

  @Test
  void invalidUtf8IsRefused() {
    byte[] body = "{\"id\":\"a\",\"type\":\"ping\",\"x\":\"\u0000\"}"
        .getBytes(StandardCharsets.UTF_8);
    body[body.length - 3] = (byte) 0xC3;
    // 0xC3 followed by '"' is not UTF-8.
    refused(body);
    refused(new byte[] {(byte) 0xFF, (byte) 0xFE, '{', '}'});
  }

  @Test
  void longUnknownTypeIsClippedInTheReason() {
    String name = "x".repeat(5000);
    InvalidRequestException e = refused("{\"id\":\"c\",\"type\":\"" + name + "\"}");
    assertTrue(e.getMessage().length() < 200, e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "{\"id\":\"s\",\"type\":\"run\",\"command\":[\"ls\"],\"cwd\":\"/tmp/\\ud800\"}",
      "{\"id\":\"s\",\"type\":\"run\",\"command\":[\"echo\",\"a\\udfffb\"]}",
      "{\"id\":\"s\",\"type\":\"run\",\"command\":[\"env\"],\"env\":{\"V\":\"\\ud800\"}}",
      "{\"id\":\"s\",\"type\":\"run\",\"command\":[\"env\"],\"env\":{\"\\udc00\":\"v\"}}",
      "{\"id\":\"s\",\"type\":\"shell\",\"command\":[\"/no/\\ud800\"]}",
      "{\"id\":\"s\",\"type\":\"stat\",\"path\":\"/tmp/a\\ud800\"}",
      "{\"id\":\"s\",\"type\":\"rename\",\"path\":\"/tmp/a\",\"new_path\":\"/tmp/\\udbff\"}"})
  void aLoneSurrogateIsRefusedWhereverAKnownFieldHoldsIt(String json) {
    InvalidRequestException e = refused(json);
    assertEquals("s", e.id());
    assertTrue(e.getMessage().contains("lone surrogate"), e.getMessage());
  }

  @Test
  void aPairedSurrogateIsText() throws Exception {
    Request.Run r = (Request.Run) parse(
        "{\"id\":\"p\",\"type\":\"run\",\"command\":[\"echo\",\"\\ud83d\\ude00\"]}");
    assertEquals("\ud83d\ude00", r.command().get(1));
  }

  @Test
  void anIdWithALoneSurrogateIsNotEchoed() {
    InvalidRequestException e = refused("{\"id\":\"x\\ud800\",\"type\":\"ping\"}");
    assertEquals("", e.id());
    assertEquals("", RequestParser.idOf(
        "{\"id\":\"x\\ud800\"}".getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void aCommandOrEnvironmentWithTooManyItemsIsRefusedWithoutKeepingThem() {
    StringBuilder args = new StringBuilder("{\"id\":\"m\",\"type\":\"run\",\"command\":[");
    for (int i = 0; i <= RequestParser.MAX_ITEMS; i++) {
      args.append(i == 0 ? "\"a\"" : ",\"a\"");
    }
    InvalidRequestException e = refused(args.append("]}").toString());
    assertEquals("m", e.id());
    assertTrue(e.getMessage().contains("more than " + RequestParser.MAX_ITEMS + " items"),
        e.getMessage());
    StringBuilder env = new StringBuilder("{\"id\":\"n\",\"type\":\"run\",\"command\":[\"env\"],"
        + "\"env\":{");
    for (int i = 0; i <= RequestParser.MAX_ITEMS; i++) {
      env.append(i == 0 ? "" : ",").append("\"V").append(i).append("\":\"\"");
    }
    e = refused(env.append("}}").toString());
    assertTrue(e.getMessage().contains("more than " + RequestParser.MAX_ITEMS + " items"),
        e.getMessage());
  }

  @Test
  void aCommandOfTheMostItemsIsKept() throws Exception {
    StringBuilder args = new StringBuilder("{\"id\":\"m\",\"type\":\"run\",\"command\":[");
    for (int i = 0; i < RequestParser.MAX_ITEMS; i++) {
      args.append(i == 0 ? "\"a\"" : ",\"a\"");
    }
    Request.Run r = (Request.Run) parse(args.append("]}").toString());
    assertEquals(RequestParser.MAX_ITEMS, r.command().size());
  }

  @Test
  void aBodyMustBeUtf8() throws Exception {
    String ping = "{\"id\":\"u\",\"type\":\"ping\"}";
    for (java.nio.charset.Charset cs : List.of(StandardCharsets.UTF_16LE,
        StandardCharsets.UTF_16BE, java.nio.charset.Charset.forName("UTF-32"))) {
      assertTrue(refused(ping.getBytes(cs)).getMessage().contains("NUL byte"), cs.name());
    }
    // Overlong ".", overlong "/" in three bytes, an encoded surrogate, a code point past
    // U+10FFFF, a lone continuation byte, a sequence cut short.
    for (byte[] bad : List.of(new byte[] {(byte) 0xc0, (byte) 0xae},
        new byte[] {(byte) 0xe0, (byte) 0x80, (byte) 0xaf},
        new byte[] {(byte) 0xed, (byte) 0xa0, (byte) 0x80},
        new byte[] {(byte) 0xf4, (byte) 0x90, (byte) 0x80, (byte) 0x80},
        new byte[] {(byte) 0x80}, new byte[] {(byte) 0xe2, (byte) 0x82})) {
      byte[] head = "{\"id\":\"u\",\"type\":\"stat\",\"path\":\"/".getBytes(StandardCharsets.UTF_8);
      byte[] body = new byte[head.length + bad.length + 2];
      System.arraycopy(head, 0, body, 0, head.length);
      System.arraycopy(bad, 0, body, head.length, bad.length);
      body[body.length - 2] = '"';
      body[body.length - 1] = '}';
      assertTrue(refused(body).getMessage().contains("not valid UTF-8"), java.util.Arrays.toString(bad));
    }
    // Any text the JDK's strict decoder takes, this takes, and the other way round.
    java.util.Random random = new java.util.Random(7);
    for (int round = 0; round < 20_000; round++) {
      byte[] b = new byte[1 + random.nextInt(8)];
      random.nextBytes(b);
      for (int k = 0; k < b.length; k++) {
        b[k] = b[k] == 0 ? 1 : b[k];
      }
      boolean strict = true;
      try {
        StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(b));
      } catch (java.nio.charset.CharacterCodingException e) {
        strict = false;
      }
      assertEquals(strict, RequestParser.notUtf8(b) == null, java.util.Arrays.toString(b));
    }
    assertEquals("\u00e9\ud83d\ude00", ((Request.Stat) parse(
        "{\"id\":\"u\",\"type\":\"stat\",\"path\":\"\u00e9\ud83d\ude00\"}")).path());
  }
}
