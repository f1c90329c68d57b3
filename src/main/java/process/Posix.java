package process;

import com.sun.jna.Library;
import com.sun.jna.Native;

/** The few C library calls the JDK does not offer, through JNA (loaded on first use). */
public final class Posix {
  public static final int SIGHUP = 1;
  public static final int SIGKILL = 9;
  public static final int SIGTERM = 15;
  /** SIGSTOP as numbered on x86-64 and AArch64 Linux. */
  public static final int SIGSTOP = 19;

  private Posix() {}

  private interface C extends Library {
    int kill(int pid, int sig);
  }

  private static final class Holder {
    static final C C = Native.load("c", C.class);
  }

  /** kill(2); returns false when the process does not exist or may not be signalled. */
  public static boolean kill(long pid, int signal) {
    return Holder.C.kill((int) pid, signal) == 0;
  }
}
