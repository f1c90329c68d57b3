package cli;

import java.io.IOException;
import java.util.EnumSet;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jline.terminal.Attributes;
import org.jline.terminal.Attributes.ControlChar;
import org.jline.terminal.Attributes.ControlFlag;
import org.jline.terminal.Attributes.InputFlag;
import org.jline.terminal.Attributes.LocalFlag;
import org.jline.terminal.Attributes.OutputFlag;
import org.jline.terminal.Size;
import org.jline.terminal.TerminalBuilder;
import org.jline.terminal.spi.SystemStream;
import org.jline.terminal.spi.TerminalProvider;

/**
 * The local terminal, through JLine: whether a standard stream is a terminal, the window size and
 * its changes, and raw mode with a guaranteed way back (on {@link #close()}, and failing that when
 * the JVM exits, as after SIGTERM or SIGHUP).
 *
 * <p>Nothing here is loaded by commands that do not need a terminal, so that {@code ping} and the
 * like do not pay for it at start-up.
 */
final class Terminal implements AutoCloseable {
  /** JLine's native provider first; its process-based one only where native code cannot load. */
  private static final String[] PROVIDERS = {"jni", "ffm", "exec"};
  /** Held, so that the level set on it is not lost with a collected logger. */
  private static final Logger JLINE_LOG = Logger.getLogger("org.jline");
  private static TerminalProvider provider;
  private static boolean searched;

  private final org.jline.terminal.Terminal jline;
  private final Attributes saved;
  private boolean closed;

  private Terminal(org.jline.terminal.Terminal jline) {
    this.jline = jline;
    this.saved = jline.getAttributes();
  }

  /** The first of JLine's providers that works here, or null if none does. */
  private static synchronized TerminalProvider provider() {
    if (!searched) {
      searched = true;
      // JLine reports a provider it cannot load through java.util.logging; we try the next one.
      JLINE_LOG.setLevel(Level.OFF);
      for (String name : PROVIDERS) {
        try {
          provider = TerminalProvider.load(name);
          provider.isSystemStream(SystemStream.Output);
          break;
        } catch (IOException | RuntimeException | LinkageError e) {
          provider = null;
        }
      }
    }
    return provider;
  }

  /** Whether our stdin is a terminal. */
  static boolean stdinIsTerminal() {
    return isTerminal(SystemStream.Input);
  }

  /** Whether our stderr is a terminal. */
  static boolean stderrIsTerminal() {
    return isTerminal(SystemStream.Error);
  }

  /** The width of the terminal on stderr, or 0 if unknown. */
  static int stderrWidth() {
    TerminalProvider p = provider();
    try {
      return p == null ? 0 : p.systemStreamWidth(SystemStream.Error);
    } catch (RuntimeException | LinkageError e) {
      return 0;
    }
  }

  private static boolean isTerminal(SystemStream stream) {
    TerminalProvider p = provider();
    try {
      return p != null && p.isSystemStream(stream);
    } catch (RuntimeException | LinkageError e) {
      return false;
    }
  }

  /**
   * Opens the terminal on our standard streams and puts it in raw mode: no echo, no line editing,
   * no signal keys (Ctrl-C is a byte for the remote program), no output processing.
   */
  static Terminal raw() throws IOException {
    TerminalProvider p = provider();
    if (p == null) {
      throw new IOException("cannot drive the local terminal (no JLine provider works here)");
    }
    org.jline.terminal.Terminal t = TerminalBuilder.builder().system(true).provider(p.name())
        .dumb(false).nativeSignals(true).build();
    Terminal term = new Terminal(t);
    Attributes raw = new Attributes(term.saved);
    raw.setInputFlags(EnumSet.of(InputFlag.IGNBRK, InputFlag.BRKINT, InputFlag.PARMRK,
        InputFlag.ISTRIP, InputFlag.INLCR, InputFlag.IGNCR, InputFlag.ICRNL, InputFlag.IXON),
        false);
    raw.setOutputFlag(OutputFlag.OPOST, false);
    raw.setLocalFlags(EnumSet.of(LocalFlag.ECHO, LocalFlag.ECHONL, LocalFlag.ICANON,
        LocalFlag.ISIG, LocalFlag.IEXTEN), false);
    raw.setControlFlag(ControlFlag.PARENB, false);
    raw.setControlFlag(ControlFlag.CS8, true);
    raw.setControlChar(ControlChar.VMIN, 1);
    raw.setControlChar(ControlChar.VTIME, 0);
    t.setAttributes(raw);
    return term;
  }

  /** The window size as {rows, cols}, or null if it cannot be read. */
  int[] size() {
    try {
      Size s = jline.getSize();
      return s.getRows() > 0 && s.getColumns() > 0 ? new int[] {s.getRows(), s.getColumns()}
          : null;
    } catch (RuntimeException e) {
      return null;
    }
  }

  /** Calls back (on a signal thread) when the window changes size. */
  void onResize(Runnable action) {
    jline.handle(org.jline.terminal.Terminal.Signal.WINCH, sig -> action.run());
  }

  /** Puts the terminal back as it was; JLine's own exit hook does the same if this is missed. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      jline.setAttributes(saved);
      jline.close();
    } catch (IOException | RuntimeException e) {
      System.err.println("agentctl: could not restore the terminal (try 'stty sane'): "
          + e.getMessage());
    }
  }
}
