import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../src/entry/cli.ts";
import { createSqliteLedger } from "../../src/ledger/sqlite.ts";
import { ADMIN_TOKEN, createHarness, ORG, runMessage, type Harness } from "../support/harness.ts";

/**
 * Contract 3: a poison record in the middle of a batch. The batch is acknowledged, the poison is parked
 * and visible, a run it names is FAILURE in Port with the reason, a resend parks it only once, and a
 * replay — over HTTP and from the command line — works once the cause is fixed.
 */
const dir = mkdtempSync(join(tmpdir(), "portside-poison-"));
let h: Harness;
let server: ReturnType<typeof Bun.serve>;
let handlerFixed = false;
const seen: string[] = [];
afterAll(async () => {
  server?.stop(true);
  await h?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const admin = (path: string, method = "GET") => h.service.app.request(`/admin${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

test("poison in a batch: acknowledged, parked once, reported, listed; replay after the fix works", async () => {
  h = await createHarness({
    ledger: createSqliteLedger({ path: join(dir, "ledger.sqlite") }),
    handlers: {
      runs: { deploy: () => ({ summary: "ok" }) },
      changes: [
        {
          match: { blueprint: "vm" },
          handle: (change) => {
            if (!handlerFixed) throw new Error("vm inventory is read-only");
            seen.push(`${change.identifier}`);
          },
        },
      ],
    },
  });
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: h.service.app.fetch });

  const poisonRun = { ...runMessage("r_poisoned"), payload: { properties: "not an object" } };
  const body = [JSON.stringify(runMessage("r_good_1")), JSON.stringify(poisonRun), "{truncated", JSON.stringify(runMessage("r_good_2"))].join("\n");
  const first = await h.post("/sink/runs", body);
  expect(first.status).toBe(200);
  expect(await first.json()).toMatchObject({ records: 4, accepted: 2, parked: 2 });

  // The connector resends the same batch: nothing new is accepted, nothing is parked twice. The poisoned run
  // was decided by its first record and the unreadable line is parked already, so every copy is a duplicate.
  const resend = await h.post("/sink/runs", body);
  expect(await resend.json()).toMatchObject({ records: 4, accepted: 0, duplicate: 4, parked: 0 });

  await h.waitForTerminal(["r_good_1", "r_good_2", "r_poisoned"]);
  expect(h.emulator.state.terminalStatus("r_good_1")).toBe("SUCCESS");
  expect(h.emulator.state.terminalStatus("r_good_2")).toBe("SUCCESS");
  // The run the poison names is failed in Port, once, saying what was wrong.
  expect(h.emulator.state.terminalStatus("r_poisoned")).toBe("FAILURE");
  expect(h.emulator.state.runs.get("r_poisoned")?.summary).toContain("payload.properties");
  expect(h.emulator.state.callsFor("r_poisoned").filter((c) => c.endpoint === "patchRun")).toHaveLength(1);

  const list = (await (await admin("/dead-letters")).json()) as { items: { id: string; reason: string; source: string; runId: string | null }[] };
  expect(list.items).toHaveLength(2);
  expect(list.items[0]).toMatchObject({ runId: "r_poisoned", source: "sink/runs" });
  expect(list.items[1]).toMatchObject({ runId: null, size: "{truncated".length });
  expect(await (await admin(`/dead-letters/${list.items[1]?.id}`)).json()).toMatchObject({ raw: "{truncated" });
  expect(list.items[1]?.reason).toContain("not valid JSON");

  // A replay of a record that is still invalid is refused and keeps it parked.
  const refused = await admin(`/dead-letters/${list.items[1]?.id}/replay`, "POST");
  expect(refused.status).toBe(422);
  expect(((await refused.json()) as { message: string }).message).toContain("still refused");
  expect((await h.ledger.listDeadLetters()).length).toBe(2);

  // A change whose handler fails is parked with the handler's error ...
  const change = {
    action: "UPDATE",
    resourceType: "entity",
    status: "SUCCESS",
    trigger: { by: { orgId: ORG, userId: "u" }, origin: "API", at: "2026-03-01T10:00:00.000Z" },
    context: { entity: "vm-7", blueprint: "vm" },
    diff: { before: { identifier: "vm-7" }, after: { identifier: "vm-7" } },
  };
  expect(await (await h.post("/sink/changes", JSON.stringify(change))).json()).toMatchObject({ accepted: 1 });
  await h.waitUntil(async () => (await h.ledger.listDeadLetters()).length === 3, "the failed change to be parked");
  const [failed] = (await h.ledger.listDeadLetters()).filter((l) => l.kind === "change");
  expect(failed?.reason).toBe("change handler failed: vm inventory is read-only");

  // ... and once the handler is fixed, the command line replays it.
  handlerFixed = true;
  const lines: string[] = [];
  const env = { PORTSIDE_URL: `http://127.0.0.1:${server.port}`, ADMIN_TOKEN };
  expect(await runCli(["dead-letters", "list"], env, (l) => lines.push(l))).toBe(0);
  expect(lines.join("\n")).toContain("change handler failed");
  expect(await runCli(["dead-letters", "replay", failed?.id ?? "?"], env, (l) => lines.push(l))).toBe(0);
  expect(lines.at(-1)).toBe(`${failed?.id}: replayed (accepted)`);
  await h.waitUntil(() => seen.includes("vm-7"), "the replayed change to be handled");
  expect((await h.ledger.listDeadLetters()).map((l) => l.kind)).toEqual(["run", "run"]);

  // Wrong token for the command line: a clear refusal, exit code 1.
  const denied: string[] = [];
  expect(await runCli(["dead-letters", "list"], { ...env, ADMIN_TOKEN: "wrong-token-wrong-token" }, (l) => denied.push(l))).toBe(1);
  expect(denied[0]).toContain("error 401");
  // A malformed page cursor is a 400, not a crash.
  expect((await admin("/dead-letters?after=not-a-cursor")).status).toBe(400);
}, 60_000);
