type Cleanup = () => Promise<void>;

const cleanups: Cleanup[] = [];

/**
 * Registers the stop of a process-wide server. `bun test` emits neither "exit" nor "beforeExit", so
 * these run only through stopSharedServers(): call it from a global afterAll (test/support/preload.ts).
 * Without that, the JVM watchdog (connectors/local/jvm.ts) kills the JVMs the moment the test process
 * is gone.
 */
export function stopWhenTestsEnd(cleanup: Cleanup): void {
  cleanups.push(cleanup);
}

/** Stops everything registered, most recent first (the worker before the broker it needs). */
export async function stopSharedServers(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup().catch((error: unknown) => console.error("stopping a shared test server failed:", error));
  }
}
