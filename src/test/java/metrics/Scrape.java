package metrics;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** One scrape of the agent's /metrics, fetched over HTTP and parsed from the text format. */
record Scrape(String text, List<Sample> samples) {
  /** One line {@code name{labels} value}. */
  record Sample(String name, Map<String, String> labels, double value) {}

  private static final Pattern LINE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)})? (\\S+)");
  private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\",?");
  private static final HttpClient HTTP = HttpClient.newBuilder()
      .connectTimeout(Duration.ofSeconds(5)).build();

  static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
    return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  static Scrape fetch(int port) throws IOException, InterruptedException {
    HttpResponse<String> r = get(port, "/metrics");
    if (r.statusCode() != 200) {
      throw new AssertionError("GET /metrics answered " + r.statusCode() + ": " + r.body());
    }
    return parse(r.body());
  }

  /** Scrapes until {@code done} holds (a bound of 10 s that only catches hangs). */
  static Scrape await(int port, Predicate<Scrape> done) throws Exception {
    Scrape[] last = new Scrape[1];
    try {
      support.Poll.until("the metrics reach the expected state", 10_000, () -> {
        try {
          last[0] = fetch(port);
        } catch (IOException | InterruptedException e) {
          throw new AssertionError(e);
        }
        return done.test(last[0]);
      });
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "; last scrape:\n"
          + (last[0] == null ? "none" : last[0].text()), e);
    }
    return last[0];
  }

  static Scrape parse(String text) {
    List<Sample> out = new ArrayList<>();
    for (String line : text.split("\n")) {
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      Matcher m = LINE.matcher(line);
      if (!m.matches()) {
        throw new AssertionError("not a sample line: " + line);
      }
      Map<String, String> labels = new LinkedHashMap<>();
      if (m.group(3) != null) {
        Matcher l = LABEL.matcher(m.group(3));
        int end = 0;
        while (l.find() && l.start() == end) {
          labels.put(l.group(1), l.group(2));
          end = l.end();
        }
        if (end != m.group(3).length()) {
          throw new AssertionError("bad labels: " + line);
        }
      }
      out.add(new Sample(m.group(1), labels, parseValue(m.group(4))));
    }
    return new Scrape(text, out);
  }

  private static double parseValue(String v) {
    return switch (v) {
      case "+Inf" -> Double.POSITIVE_INFINITY;
      case "-Inf" -> Double.NEGATIVE_INFINITY;
      case "NaN" -> Double.NaN;
      default -> Double.parseDouble(v);
    };
  }

  /** Samples named {@code name} whose labels include every pair of {@code kv}. */
  List<Sample> find(String name, String... kv) {
    List<Sample> out = new ArrayList<>();
    for (Sample s : samples) {
      if (!s.name().equals(name)) {
        continue;
      }
      boolean all = true;
      for (int i = 0; i + 1 < kv.length; i += 2) {
        all &= kv[i + 1].equals(s.labels().get(kv[i]));
      }
      if (all) {
        out.add(s);
      }
    }
    return out;
  }

  /** The value of the one sample that matches, or NaN when none does. */
  double value(String name, String... kv) {
    List<Sample> found = find(name, kv);
    if (found.size() > 1) {
      throw new AssertionError(found.size() + " samples match " + name + " " + List.of(kv));
    }
    return found.isEmpty() ? Double.NaN : found.get(0).value();
  }
}
