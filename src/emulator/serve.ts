/**
 * Serves the Port EMULATOR on its own (for docker compose and local experiments):
 *   bun src/emulator/serve.ts      PORT (default 5050), HOST (default 127.0.0.1)
 * It accepts the client id `emulator-client-id` with secret `emulator-client-secret`. It is not Port.
 * Like Port, it knows only the runs it was told of: declare them with `POST /emulator/runs {"id": "r_…"}`
 * before producing them (connectors/trigger.ts does, given PORT_EMULATOR_URL); `GET /emulator/runs` lists them.
 */
import { createPortEmulator } from "./port-emulator.ts";

const emulator = createPortEmulator({ log: (line) => console.log(line) });
const server = Bun.serve({ hostname: process.env.HOST ?? "127.0.0.1", port: Number(process.env.PORT ?? 5050), fetch: emulator.app.fetch });
console.log(`[port-emulator] Port EMULATOR (not Port) listening on http://${server.hostname}:${server.port}`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
