package cli;

import sun.misc.Signal;

/** Calls back when the terminal window changes size (SIGWINCH). */
final class WindowChanges {
  private WindowChanges() {}

  static void onChange(Runnable action) {
    try {
      Signal.handle(new Signal("WINCH"), sig -> action.run());
    } catch (IllegalArgumentException | UnsupportedOperationException e) {
      // No SIGWINCH here: the remote window keeps its starting size.
    }
  }
}
