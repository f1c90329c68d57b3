package support;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One agent process for a whole test class, started before its first test and stopped after its
 * last: {@code @RegisterExtension static final SharedAgent agent = new SharedAgent();}.
 */
public final class SharedAgent implements BeforeAllCallback, AfterAllCallback {
  private AgentProcess agent;

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    agent = AgentProcess.start().awaitReady();
  }

  @Override
  public void afterAll(ExtensionContext context) throws Exception {
    agent.close();
  }

  public String tcp() {
    return agent.tcp();
  }

  public String unix() {
    return agent.unix();
  }

  public long pid() {
    return agent.pid();
  }
}
