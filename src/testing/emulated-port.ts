import type { Config } from "../config.ts";
import { createPortEmulator, type PortEmulator } from "../emulator/port-emulator.ts";
import type { FetchFn } from "../port/http.ts";
import type { ServiceDeps } from "../service.ts";

/**
 * Port for a service built in this process (the test kit, the repository's pipeline tests): the Port
 * emulator, answering through its `app.request()` (no sockets), and accepting whatever credentials the
 * configuration names — a test may set a longer client secret, the key of secret inputs.
 */
export interface InProcessPort {
  emulator: PortEmulator;
  /** `createService`'s `port` and `fetch`. */
  port: ServiceDeps["port"];
  fetch: FetchFn;
}

export function inProcessPort(config: Config, emulator?: PortEmulator): InProcessPort {
  const credentials = {
    clientId: config.portCredentials?.clientId ?? "emulator-client-id",
    clientSecret: config.portCredentials?.clientSecret.reveal() ?? "emulator-client-secret",
  };
  const port = emulator ?? createPortEmulator(credentials);
  return {
    emulator: port,
    port: { baseUrl: "http://port.emulator", ...credentials },
    fetch: async (input, init) => port.app.request(input instanceof Request ? input : String(input), init),
  };
}
