import type { Logger } from "../log.ts";
import { credentialsRefused, type PortAuth, PortAuthEvents } from "../port/auth-check.ts";
import { StartError } from "./assemble.ts";

/**
 * The start asks Port for a token before it serves, when PORT_CLIENT_ID/PORT_CLIENT_SECRET are set (Port, or
 * an emulator at PORT_API_URL; open mode's own emulator and AWS Lambda ask nothing). Credentials Port refuses
 * (401/403) stop the start with one line: no run could ever be reported. Port away, slow or answering 5xx
 * does not: portside serves, `/readyz` answers 503 naming Port auth, and the token is asked for again in the
 * background until Port issues one. Neither the client id nor the secret is ever in what is printed.
 */

/** How long the start waits for Port's first answer before it serves without a token (not ready yet). */
export const PORT_AUTH_WAIT_MS = 5_000;

/** Begins the check; throws `StartError` when Port refuses the credentials, and goes on (not ready) when Port does not answer. */
export async function checkPortCredentials(portAuth: PortAuth, logger: Logger, waitMs = PORT_AUTH_WAIT_MS): Promise<void> {
  const first = await portAuth.begin(waitMs);
  if (first.type === "refused") {
    portAuth.stop();
    throw new StartError(credentialsRefused(first.status, first.code));
  }
  if (first.type === "waiting")
    logger.warn(PortAuthEvents.waiting, {
      message: `No access token from Port yet (${first.reason}): serving, with /readyz at 503 until Port issues one (asked again in the background)`,
    });
}
