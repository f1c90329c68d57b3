package protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import org.junit.jupiter.api.Test;

class ErrorsTest {
  @Test
  void anAnswerSaysWhatItWasByItsKindNotItsText() {
    assertEquals("ok", Response.ok("1").outcome());
    assertEquals("busy", Errors.toResponse("2", Errors.busy("runs (max 1)")).outcome());
    assertEquals("Busy: runs (max 1)", Errors.toResponse("2", Errors.busy("runs (max 1)"))
        .get("error"));
    assertEquals("error", Errors.toResponse("3", Errors.plain("Missing path")).outcome());
    assertEquals("error", Errors.toResponse("4", new IOException("disk")).outcome());
    // An error whose text merely starts like a limit's is not one.
    assertEquals("error", Errors.toResponse("5", Errors.plain("Busy: not really")).outcome());
  }
}
