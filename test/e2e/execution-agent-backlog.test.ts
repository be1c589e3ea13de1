import { afterAll, expect, test } from "bun:test";
import { declareAction, triggerAction } from "../../src/emulator/port-emulator-actions.ts";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { type PortsideProcess, startPortside } from "../support/portside-process.ts";

/**
 * portside polling in Port's agent's place with a backlog: more runs waiting for the agent than the jq
 * engine's default queue (1,000 evaluations). Every claimed run waits on the forwarding target (up to
 * TARGET_CONCURRENCY at once, 2,048 by default) and asks jq for its request, so the queue must take as many
 * as the executor lets wait; a run refused by the queue would be reported FAILURE though nothing was wrong.
 */
const RUNS = 1_500;
const emulator = createPortEmulator({});
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
let forwarded = 0;
const receiver = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    await req.text();
    forwarded++;
    return Response.json({ ok: true });
  },
});
let portside: PortsideProcess | undefined;

afterAll(async () => {
  await portside?.crash();
  receiver.stop(true);
  emulatorServer.stop(true);
});

test(`a backlog of ${RUNS} synchronized agent runs, none with a handler: every one forwarded once and SUCCESS`, async () => {
  declareAction(emulator.state, {
    identifier: "backlog",
    invocationMethod: { type: "WEBHOOK", url: `http://127.0.0.1:${receiver.port}/hook`, agent: true, synchronized: true },
  });
  const ids: string[] = [];
  for (let i = 0; i < RUNS; i++) ids.push((triggerAction(emulator.state, Date.now, "backlog", { properties: { i } }) as { id: string }).id);
  portside = await startPortside({
    ORG_ID: "org_backlog",
    PORT_API_URL: `http://127.0.0.1:${emulatorServer.port}`,
    PORT_CLIENT_ID: "emulator-client-id",
    PORT_CLIENT_SECRET: "emulator-client-secret",
    PORT_POLLING: "true",
    LEDGER: "memory",
  });
  const statuses = () => ids.map((id) => emulator.state.findRun(id)?.status);
  const deadline = Date.now() + 60_000;
  while (statuses().some((s) => s === "IN_PROGRESS") && Date.now() < deadline) await Bun.sleep(100);
  const failed = ids.map((id) => emulator.state.findRun(id)).filter((run) => run?.status === "FAILURE");
  expect(failed.map((run) => run?.summary)).toEqual([]);
  expect(statuses().filter((s) => s === "SUCCESS").length).toBe(RUNS);
  expect(forwarded).toBe(RUNS);
}, 90_000);
