package protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Each typed answer writes the contract's fields, in the order the agent has always sent them. */
class ResponseShapesTest {
  @Test
  void runAnswers() {
    assertEquals("{\"id\":\"2\",\"exit_code\":3,\"stdout\":\"hi\\n\",\"stderr\":\"oops\\n\"}",
        Response.run("2", 3, "hi\n", false, "oops\n", false, false).toString());
    assertEquals("{\"id\":\"2\",\"exit_code\":124,\"stdout\":\"\",\"stderr\":\"e\","
        + "\"timed_out\":true,\"stdout_truncated\":true,\"stderr_truncated\":true}",
        Response.run("2", 124, "", true, "e", true, true).toString());
    assertEquals("{\"id\":\"b\",\"exit_code\":0,\"stdout_base64\":\"aGk=\",\"stderr_base64\":\"\","
        + "\"stderr_truncated\":true}",
        Response.run("b", 0, "hi".getBytes(), false, new byte[0], true, false).toString());
    assertEquals("{\"id\":\"s\",\"exit_code\":1,\"stdout_truncated\":true}",
        Response.runEnd("s", 1, true, false, false).toString());
  }

  @Test
  void aRunAnswerCutEmptiesItsOutputAndFlagsWhatWasThere() {
    Response r = Response.run("c", 7, "out", false, "", false, true);
    assertEquals("{\"id\":\"c\",\"exit_code\":7,\"stdout\":\"\",\"stderr\":\"\","
        + "\"timed_out\":true,\"stdout_truncated\":true}", r.cut().toString());
    assertEquals("{\"id\":\"c\",\"exit_code\":7,\"stdout_base64\":\"\",\"stderr_base64\":\"\","
        + "\"stdout_truncated\":true,\"stderr_truncated\":true}",
        Response.run("c", 7, new byte[0], true, new byte[2], false, false).cut().toString());
  }

  @Test
  void otherAnswersHaveNoSmallerForm() {
    assertNull(Response.content("f", new byte[3]).cut());
    assertNull(Response.ok("o").cut());
    assertNull(Response.runEnd("e", 0, false, false, false).cut());
  }

  @Test
  void streamAndFileAnswers() {
    assertEquals("{\"id\":\"x\",\"stream\":\"stderr\",\"output_base64\":\"aGk=\"}",
        Response.output("x", "stderr", "hi".getBytes()).toString());
    assertEquals("{\"id\":\"f\",\"exit_code\":0,\"content_base64\":\"aGk=\"}",
        Response.content("f", "hi".getBytes()).toString());
    assertEquals("{\"id\":\"f\",\"exit_code\":0,\"content_base64\":\"aGk=\",\"size\":9,"
        + "\"eof\":false}", Response.chunk("f", "hi".getBytes(), 9, false).toString());
    Map<String, Object> st = new LinkedHashMap<>();
    st.put("type", "file");
    st.put("size", 2L);
    assertEquals("{\"id\":\"t\",\"exit_code\":0,\"stat\":{\"type\":\"file\",\"size\":2}}",
        Response.stat("t", st).toString());
    assertEquals("{\"id\":\"l\",\"exit_code\":0,\"entries\":[]}",
        Response.entries("l", new JsonValue() {
          @Override
          public long jsonLength() {
            return 2;
          }

          @Override
          public void writeJson(com.fasterxml.jackson.core.JsonGenerator g)
              throws java.io.IOException {
            g.writeStartArray();
            g.writeEndArray();
          }
        }).toString());
  }
}
