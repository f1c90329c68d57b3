package verticles;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The agent's command line: each way of giving an option, and each usage error's line. The agent
 * started with bad arguments (one line, the usage, exit 2) is tested end to end in
 * {@code cli.AgentCtlUsageTest}.
 */
class ArgsTest {
  @Test
  void nothingGivenMeansTheDefaults() {
    Args a = Args.parse(new String[0]);
    assertEquals(List.of(), a.listen());
    assertEquals(Map.of(), a.values());
    assertFalse(a.help());
    assertFalse(a.version());
  }

  @Test
  void valuesFollowOrComeAfterAnEqualsSign() {
    Args a = Args.parse(new String[] {"--listen", "unix:/run/a.sock", "--listen=tcp://127.0.0.1:1",
        "--conf", "conf/dev.json", "--token-file=/etc/token", "--metrics", "127.0.0.1:9100",
        "--log-format=json", "--log-level", "debug"});
    assertEquals(List.of("unix:/run/a.sock", "tcp://127.0.0.1:1"), a.listen());
    assertEquals(Map.of("--conf", "conf/dev.json", "--token-file", "/etc/token", "--metrics",
        "127.0.0.1:9100", "--log-format", "json", "--log-level", "debug"), a.values());
  }

  @Test
  void aValueMayStartWithADashOrHoldAnEqualsSign() {
    Args a = Args.parse(new String[] {"--conf", "-weird.json", "--token-file", "a=b"});
    assertEquals("-weird.json", a.values().get("--conf"));
    assertEquals("a=b", a.values().get("--token-file"));
    assertEquals("x=y", Args.parse(new String[] {"--conf=x=y"}).values().get("--conf"));
  }

  @Test
  void helpAndVersion() {
    assertTrue(Args.parse(new String[] {"-h"}).help());
    assertTrue(Args.parse(new String[] {"--listen", "unix:/a", "--help"}).help());
    Args v = Args.parse(new String[] {"--version"});
    assertTrue(v.version());
    assertFalse(v.help());
  }

  @Test
  void usageErrorsNameTheArgument() {
    assertEquals("unknown option '--frobnicate'", error("--frobnicate"));
    assertEquals("unknown option '-x'", error("-x"));
    assertEquals("unknown option '--frobnicate=1'", error("--frobnicate=1"));
    assertEquals("unexpected argument 'serve' (options only; see the usage)", error("serve"));
    assertEquals("--listen needs a value", error("--listen"));
    // The next argument is an option, not this one's value.
    assertEquals("--conf needs a value", error("--conf", "--listen", "unix:/a"));
    assertEquals("--conf needs a value", error("--conf", "--log-level=debug"));
    assertEquals("--conf is given more than once", error("--conf", "a", "--conf=b"));
    assertEquals("--help takes no value", error("--help=yes"));
  }

  private static String error(String... args) {
    return assertThrows(IllegalArgumentException.class, () -> Args.parse(args)).getMessage();
  }
}
