package verticles;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The agent's command line, read by hand: eight options are not worth a parser library that the
 * class-data archive cannot hold (its class files are too old for it) and that cost each start
 * about 75 ms of class loading and reflection (BENCHMARKS.md, "The agent's command line").
 *
 * <p>An option's value is the next argument or follows an {@code =}; {@code --listen} may be
 * given more than once, the others at most once. A usage error is an IllegalArgumentException
 * whose message is the one line the agent prints.
 *
 * @param listen every {@code --listen}, in order
 * @param values the other valued options by name ({@code --conf}, {@code --token-file},
 *     {@code --metrics}, {@code --log-format}, {@code --log-level})
 * @param help {@code -h} or {@code --help}
 * @param version {@code --version}
 */
record Args(List<String> listen, Map<String, String> values, boolean help, boolean version) {
  private static final Set<String> SINGLE =
      Set.of("--conf", "--token-file", "--metrics", "--log-format", "--log-level");
  private static final Set<String> FLAGS = Set.of("-h", "--help", "--version");

  static Args parse(String[] args) {
    List<String> listen = new ArrayList<>();
    Map<String, String> values = new LinkedHashMap<>();
    boolean help = false;
    boolean version = false;
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      String name = nameOf(arg);
      int eq = name.length() < arg.length() ? name.length() : -1;
      if (FLAGS.contains(name)) {
        if (eq > 0) {
          throw new IllegalArgumentException(name + " takes no value");
        }
        help |= !name.equals("--version");
        version |= name.equals("--version");
        continue;
      }
      if (!name.equals("--listen") && !SINGLE.contains(name)) {
        throw new IllegalArgumentException(arg.startsWith("-")
            ? "unknown option '" + arg + "'"
            : "unexpected argument '" + arg + "' (options only; see the usage)");
      }
      String value;
      if (eq > 0) {
        value = arg.substring(eq + 1);
      } else if (i + 1 < args.length && !isOption(args[i + 1])) {
        value = args[++i];
      } else {
        throw new IllegalArgumentException(name + " needs a value");
      }
      if (name.equals("--listen")) {
        listen.add(value);
      } else if (values.putIfAbsent(name, value) != null) {
        throw new IllegalArgumentException(name + " is given more than once");
      }
    }
    return new Args(List.copyOf(listen), Map.copyOf(values), help, version);
  }

  /** Whether {@code arg} names one of the options (so it cannot be the value before it). */
  private static boolean isOption(String arg) {
    String name = nameOf(arg);
    return FLAGS.contains(name) || SINGLE.contains(name) || name.equals("--listen");
  }

  /** The option name in {@code arg}: all of it, or what comes before the {@code =} of a long one. */
  private static String nameOf(String arg) {
    int eq = arg.startsWith("--") ? arg.indexOf('=') : -1;
    return eq > 0 ? arg.substring(0, eq) : arg;
  }
}
