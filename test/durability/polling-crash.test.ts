import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { declareAction, triggerAction } from "../../src/emulator/port-emulator-actions.ts";
import { queueNodeRun } from "../../src/emulator/port-emulator-polling.ts";
import { ORG, SINK_TOKEN } from "../support/harness.ts";
import { sqliteLedgerLookup, startPollingPort, startWebhookReceiver } from "../support/polling-port.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";
import { readExecutions } from "../support/recording-handlers.ts";

/**
 * kill -9 of a polling portside twice while Port keeps queueing runs, each time at one of polling's two
 * windows, then a restart on the same SQLite ledger:
 *
 *   1. after the runs of a claim were recorded, as their acknowledgement is on its way (Port never gets it);
 *   2. after Port handed out a claim, before portside got the answer (nothing of it was recorded).
 *
 * Port's claims lapse after 2 s and it offers those runs again. What is allowed, by portside's rule: a run
 * whose handler a killed process had started (or was about to start) is reported FAILURE as interrupted,
 * never started again; a forwarded node run may be forwarded again with the same Idempotency-Key. What is
 * not: a run lost, started twice, reported twice, or a run offered again after its record executed again.
 */
const RUNS = 1_500;
const NODE_RUNS = 150;
const CONCURRENCY = 16;
const dir = mkdtempSync(join(tmpdir(), "portside-polling-crash-"));
const port = startPollingPort();
const { emulator } = port;
const receiver = startWebhookReceiver();
let current: PortsideProcess | undefined;

const within = (promise: Promise<void>, what: string) =>
  Promise.race([promise, Bun.sleep(30_000).then(() => Promise.reject(new Error(`timed out waiting for ${what}`)))]);

afterAll(async () => {
  await current?.crash();
  port.stop();
  receiver.stop();
  rmSync(dir, { recursive: true, force: true });
});

test(`kill -9 twice during ${RUNS} polled runs and ${NODE_RUNS} node runs (after a claim was recorded, and after a claim was handed out): none lost, none run twice, each reported once`, async () => {
  emulator.state.claimLeaseMs = 2_000;
  declareAction(emulator.state, { identifier: "deploy", invocationMethod: { type: "WEBHOOK", url: `${receiver.url}/never-called`, agent: true } });
  const ledgerPath = join(dir, "ledger.sqlite");
  const execLog = join(dir, "executions.log");
  const lookup = sqliteLedgerLookup(ledgerPath);
  port.ledgerHolds = lookup;
  const env = emulatorEnv(port.port, ORG, SINK_TOKEN, {
    PORT_POLLING: "true",
    POLLING_INTERVAL_MS: "100",
    POLLING_BATCH: "50",
    LEDGER: `sqlite:${ledgerPath}`,
    EXEC_LOG: execLog,
    HANDLER_DELAY_MS: "50",
    CONCURRENCY: String(CONCURRENCY),
  });

  const runIds = Array.from({ length: RUNS }, (_, i) => `r_pcrash_${i}`);
  const nodeIds = Array.from({ length: NODE_RUNS }, (_, i) => `wfnr_pcrash_${i}`);
  const claimedRuns = () => runIds.filter((id) => port.claimed.has(id)).length;
  // The kills, each at its exact point, from inside the emulator's door.
  const killedPids: string[] = [];
  const droppedAck: string[] = [];
  const lostClaim: { ids: string[]; unrecorded: string[] } = { ids: [], unrecorded: [] };
  let firstKill!: () => void;
  let secondKill!: () => void;
  const killedAtAck = new Promise<void>((resolve) => (firstKill = resolve));
  const killedAtClaim = new Promise<void>((resolve) => (secondKill = resolve));
  const crash = async () => {
    const p = current as PortsideProcess;
    killedPids.push(String(p.proc.pid));
    await p.crash();
  };
  port.onAck = async (ids) => {
    if (killedPids.length > 0 || claimedRuns() < 300 || !ids[0]?.startsWith("r_")) return "forward";
    await crash();
    droppedAck.push(...ids);
    firstKill();
    return "drop";
  };
  // Port takes the statuses of the runs whose ack it missed only once it offered them again: the offer
  // finds them IN_PROGRESS (else Port, which offers no ended run, would not offer them at all).
  port.onCall = async (method, path) => {
    const id = /^\/v1\/actions\/runs\/([^/]+)$/.exec(path)?.[1];
    if (method !== "PATCH" || !id || !droppedAck.includes(id)) return;
    const until = Date.now() + 15_000;
    while ((port.claimed.get(id) ?? 0) < 2 && Date.now() < until) await Bun.sleep(20);
  };
  port.onClaimed = async (ids) => {
    if (killedPids.length !== 1 || claimedRuns() < 900 || !ids[0]?.startsWith("r_")) return;
    await crash();
    lostClaim.ids = ids;
    lostClaim.unrecorded = lookup(ids);
    secondKill();
  };

  current = await startPortside(env);
  const { port: httpPort } = current;
  // Port queues runs as people trigger them: 100 runs and 10 node runs every 100 ms.
  const producing = (async () => {
    for (let wave = 0; wave < RUNS / 100; wave++) {
      for (const id of runIds.slice(wave * 100, wave * 100 + 100)) triggerAction(emulator.state, Date.now, "deploy", { properties: {}, id });
      for (const id of nodeIds.slice(wave * 10, wave * 10 + 10))
        queueNodeRun(emulator.state, { type: "WEBHOOK", url: `${receiver.url}/node`, agent: true, synchronized: true }, id);
      await Bun.sleep(100);
    }
  })();

  await within(killedAtAck, "the kill at an acknowledgement");
  current = await startPortside(env, { port: httpPort });
  await within(killedAtClaim, "the kill at a claim");
  current = await startPortside(env, { port: httpPort });
  await producing;

  const deadline = Date.now() + 60_000;
  const pending = () => [...runIds, ...nodeIds].filter((id) => !emulator.state.ended(id));
  while (pending().length > 0 && Date.now() < deadline) await Bun.sleep(50);
  expect(pending()).toEqual([]);

  // The kills came where they were meant to: a recorded claim whose ack Port never got, a claim nothing recorded.
  expect(droppedAck.length).toBeGreaterThan(0);
  expect(lookup(droppedAck)).toEqual([]);
  expect(lostClaim.ids.length).toBeGreaterThan(0);
  // (The lost claim may hold runs of the dropped ack, offered again: those were recorded before.)
  const firstOffers = lostClaim.ids.filter((id) => !droppedAck.includes(id));
  expect(firstOffers.length).toBeGreaterThan(0);
  expect(lostClaim.unrecorded).toEqual(firstOffers);
  // Each was offered again once its claim lapsed, and acknowledged then; nothing else was handed out twice.
  const expectedClaims = (id: string) => 1 + (droppedAck.includes(id) ? 1 : 0) + (lostClaim.ids.includes(id) ? 1 : 0);
  expect([...runIds, ...nodeIds].filter((id) => port.claimed.get(id) !== expectedClaims(id))).toEqual([]);
  expect([...runIds, ...nodeIds].filter((id) => port.acked.get(id) !== 1)).toEqual([]);
  expect(port.ackedUncommitted).toEqual([]);

  // Action runs: started at most once; SUCCESS after one start, or FAILURE as interrupted when a killed
  // process held it (having started it, or not yet). Reported once.
  const { starts } = readExecutions(existsSync(execLog) ? readFileSync(execLog, "utf8") : "");
  const startedBy = new Map<string, string>();
  for (const line of readFileSync(execLog, "utf8").split("\n"))
    if (line.startsWith("start ")) startedBy.set(line.split(" ")[1] as string, line.split(" ")[2] as string);
  const interrupted = (id: string) =>
    emulator.state.terminalStatus(id) === "FAILURE" && (emulator.state.runs.get(id)?.summary ?? "").startsWith("portside stopped while this run was executing");
  const terminalPatches = (id: string) =>
    emulator.state.callsFor(id).filter((c) => c.endpoint === "patchRun" && c.status < 300 && (c.body as { status?: string }).status);
  const wrong = runIds.filter(
    (id) =>
      (starts.get(id) ?? 0) > 1 ||
      terminalPatches(id).length !== 1 ||
      !(
        (starts.get(id) === 1 && emulator.state.terminalStatus(id) === "SUCCESS") ||
        (interrupted(id) && (!startedBy.has(id) || killedPids.includes(startedBy.get(id) as string)))
      ),
  );
  expect(wrong).toEqual([]);
  const interruptedRuns = runIds.filter(interrupted);
  // At most the runs that held an executor slot in each killed process.
  expect(interruptedRuns.length).toBeLessThanOrEqual(2 * CONCURRENCY);
  // The claim whose answer was lost had never reached portside: those runs ran as first attempts.
  for (const id of firstOffers) expect([id, starts.get(id), emulator.state.terminalStatus(id)]).toEqual([id, 1, "SUCCESS"]);

  // Node runs a killed process held are forwarded again by the next one (the receiver can tell by the
  // Idempotency-Key): at most once per process; COMPLETED once.
  expect([...receiver.received.keys()].sort()).toEqual([...nodeIds].sort());
  expect(nodeIds.filter((id) => (receiver.received.get(id) ?? 0) > killedPids.length + 1)).toEqual([]);
  const forwardedAgain = nodeIds.filter((id) => (receiver.received.get(id) ?? 0) > 1);
  const completions = (id: string) =>
    emulator.state.callsFor(id).filter((c) => c.endpoint === "patchNodeRun" && c.status < 300 && (c.body as { status?: string }).status === "COMPLETED");
  expect(nodeIds.filter((id) => completions(id).length !== 1)).toEqual([]);
  console.log(
    `polling crash: ack dropped for ${droppedAck.length} recorded runs, claim lost for ${lostClaim.ids.length}; ${interruptedRuns.length} runs reported interrupted, ${forwardedAgain.length} node runs forwarded again`,
  );
}, 120_000);
