import { afterAll, beforeAll, expect, test } from "bun:test";
import { createCipheriv, randomBytes, randomInt } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { ORG, runMessage } from "../support/harness.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";

/**
 * A decrypted secret input leaves portside nowhere, however carelessly a handler treats it: handlers log it,
 * write it into an entity, throw it in an error message, let Bun's `JSON.parse` quote a piece of it, and
 * return it as summary, link, label and external id; a typed handler (its action's definition in the module)
 * logs the whole of its inputs and the revealed value. Against portside as a real process and the Port
 * emulator, neither the value nor any 8-character piece of it is in the calls Port received, portside's
 * output (debug level), the ledger's file, the console's pages, /admin or /metrics — and where it was, Port
 * reads `[secret input pw]`.
 */
const SINK = "secret-sink-token-0123456789";
const ADMIN = "secret-admin-token-0123456789";
const CLIENT_SECRET = randomBytes(24).toString("hex"); // 48 characters: the first 32 bytes are the AES key
const dir = mkdtempSync(join(tmpdir(), "portside-secrets-"));
const emulator = createPortEmulator({ clientSecret: CLIENT_SECRET });
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
let portside: PortsideProcess;

/** Letters no hex digest or base64 run is likely to hold 8 of in a row by chance: g–z, both cases. */
const word = (n: number) => Array.from({ length: n }, () => "ghijkmnpqrstuvwxyzGHJKLMNPQRSTUVWXYZ"[randomInt(36)]).join("");
/** Bun's JSON.parse error quotes the part before the dash: `Unexpected identifier "…"`. */
const SECRET = `${word(14)}-${word(14)}`;

function encrypt(plain: string): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(CLIENT_SECRET).subarray(0, 32), iv);
  return Buffer.concat([iv, cipher.update(plain, "utf8"), cipher.final(), cipher.getAuthTag()]).toString("base64");
}

function secretRun(id: string, action: string) {
  const message = runMessage(id, action, { inputs: { version: "1.0.0", pw: encrypt(SECRET) } });
  return { ...message, payload: { ...message.payload, censoredProperties: ["pw"] } };
}

beforeAll(async () => {
  portside = await startPortside(
    emulatorEnv(emulatorServer.port, ORG, SINK, {
      PORT_CLIENT_SECRET: CLIENT_SECRET,
      ADMIN_TOKEN: ADMIN,
      HANDLERS: "test/support/secret-leak-handlers.ts",
      LEDGER: `sqlite:${join(dir, "ledger.sqlite")}`,
      LOG_LEVEL: "debug",
    }),
  );
}, 60_000);

afterAll(async () => {
  await portside?.stop();
  emulatorServer.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const admin = async (path: string) => (await fetch(`${portside.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();

test("a careless handler's secret input reaches Port, the logs, the ledger, the console and /metrics only as [secret input pw]", async () => {
  const ids = { careless: "r_secret_careless", parse: "r_secret_parse", chatty: "r_secret_chatty", typed: "r_secret_typed" };
  for (const id of Object.values(ids)) emulator.state.declareRun(id);
  const body = Object.entries(ids)
    .map(([action, id]) => JSON.stringify(secretRun(id, action)))
    .join("\n");
  const res = await fetch(`${portside.url}/sink/runs`, { method: "POST", body, headers: { authorization: `Bearer ${SINK}` } });
  expect(await res.json()).toMatchObject({ accepted: 4 });
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !Object.values(ids).every((id) => emulator.state.terminalStatus(id))) await Bun.sleep(50);
  // The journal hears of deliveries just after Port answered them.
  await Bun.sleep(300);

  // What Port was told, with the secret replaced where it stood.
  const hidden = "[secret input pw]";
  expect(emulator.state.runs.get(ids.careless)).toMatchObject({ status: "FAILURE", summary: `Handler for "careless" failed: bad pw ${hidden}` });
  expect(emulator.state.logsFor(ids.careless)).toContain(`logging in with ${hidden}`);
  const entity = emulator.state.calls.find((c) => c.runId === ids.careless && c.endpoint.toLowerCase().includes("entit"));
  expect(JSON.stringify(entity?.body)).toContain(`svc ${hidden}`);
  expect(emulator.state.runs.get(ids.parse)).toMatchObject({ status: "FAILURE", summary: expect.stringContaining(hidden) });
  expect(emulator.state.runs.get(ids.chatty)).toMatchObject({
    status: "SUCCESS",
    summary: `connected as ${hidden}…`,
    statusLabel: hidden,
    externalRunId: hidden,
  });

  // A typed secret input is a Secret: the whole of run.inputs prints it [redacted]; revealed, it is redacted on its way out.
  expect(emulator.state.runs.get(ids.typed)).toMatchObject({ status: "SUCCESS", summary: "typed [redacted]" });
  expect(emulator.state.logsFor(ids.typed)).toEqual([`inputs {"version":"1.0.0","pw":"[redacted]"}; pw [redacted]\nrevealed ${hidden}`]);

  const ledgerFiles = ["ledger.sqlite", "ledger.sqlite-wal"].filter((f) => existsSync(join(dir, f))).map((f) => readFileSync(join(dir, f)).toString("latin1"));
  const pages = await Promise.all([
    admin("/console"),
    ...Object.values(ids).map((id) => admin(`/console/runs/${id}`)),
    admin("/admin/runs"),
    ...Object.values(ids).map((id) => admin(`/admin/runs/${id}`)),
    admin("/admin/dead-letters"),
    admin("/metrics"),
  ]);
  expect(pages.join("\n")).toContain(hidden);
  const everywhere = [
    JSON.stringify(emulator.state.calls),
    JSON.stringify([...emulator.state.runs.values()]),
    portside.output.join(""),
    ...ledgerFiles,
    ...pages,
  ].join("\n");
  expect(everywhere).toContain("run.failed");
  const pieces = Array.from({ length: SECRET.length - 7 }, (_, i) => SECRET.slice(i, i + 8));
  expect(pieces.filter((piece) => everywhere.includes(piece))).toEqual([]);
}, 60_000);
