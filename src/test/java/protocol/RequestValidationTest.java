package protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** What reaches the operating system as a C string is refused when it would be cut or misread. */
class RequestValidationTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "{\"id\":\"1\",\"type\":\"run\",\"command\":[\"echo\",\"a\\u0000b\",\"c\"]}"
          + "|field 'command' must not contain a NUL character",
      "{\"id\":\"1\",\"type\":\"shell\",\"command\":[\"/bin/sh\\u0000x\"]}"
          + "|field 'command' must not contain a NUL character",
      "{\"id\":\"1\",\"type\":\"run\",\"command\":[\"pwd\"],\"cwd\":\"/tmp\\u0000/x\"}"
          + "|field 'cwd' must not contain a NUL character",
      "{\"id\":\"1\",\"type\":\"shell\",\"cwd\":\"\\u0000\"}"
          + "|field 'cwd' must not contain a NUL character",
      "{\"id\":\"1\",\"type\":\"run\",\"command\":[\"env\"],\"env\":{\"PATH=/nowhere\":\"x\"}}"
          + "|field 'env' has a variable name containing '=': 'PATH=/nowhere'",
      "{\"id\":\"1\",\"type\":\"shell\",\"env\":{\"\":\"x\"}}"
          + "|field 'env' has an empty variable name",
      "{\"id\":\"1\",\"type\":\"run\",\"command\":[\"env\"],\"env\":{\"A\\u0000B\":\"x\"}}"
          + "|field 'env' has a variable name containing a NUL character",
      "{\"id\":\"1\",\"type\":\"shell\",\"env\":{\"A\":\"x\\u0000y\"}}"
          + "|field 'env' has a value containing a NUL character (variable 'A')",
  })
  void refusedWithInvalidRequest(String json, String reason) {
    InvalidRequestException e = assertThrows(InvalidRequestException.class,
        () -> RequestParser.parse(json.getBytes(StandardCharsets.UTF_8)));
    assertEquals("Invalid request: " + reason, e.getMessage());
    assertEquals("1", e.id());
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "{\"id\":\"1\",\"type\":\"run\",\"command\":[\"env\"],\"env\":{\"A\":\"x=y\",\"B\":\"\"}}",
      "{\"id\":\"1\",\"type\":\"run\",\"command\":[\"echo\",\"\",\"=\"],\"cwd\":\"/\"}",
  })
  void equalsSignsInValuesAndEmptyValuesAreFine(String json) throws Exception {
    assertEquals("1", RequestParser.parse(json.getBytes(StandardCharsets.UTF_8)).id());
  }
}
