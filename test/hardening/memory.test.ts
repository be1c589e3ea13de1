import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { ADMIN_TOKEN, ORG, runMessage, SINK_TOKEN } from "../support/harness.ts";
import { peakGrowth, resident } from "../support/memory.ts";
import { emulatorEnv, type PortsideProcess, startPortside } from "../support/portside-process.ts";

/**
 * Memory stays bounded whatever arrives from outside: portside runs as a real process and its resident
 * size is read from /proc (test/support/memory.ts), so the figures are portside's alone. Each test sends
 * what once took hundreds of MB and bounds the peak (or what stays) well below that.
 */
const dir = mkdtempSync(join(tmpdir(), "portside-memory-"));
const emulator = createPortEmulator({});
const emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
let portside: PortsideProcess | undefined;
let n = 0;

afterEach(async () => {
  await portside?.crash();
  portside = undefined;
});
afterAll(() => {
  emulatorServer.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const sink = (path: string, body: string) => fetch(`${portside?.url}${path}`, { method: "POST", body, headers: { authorization: `Bearer ${SINK_TOKEN}` } });
const admin = (path: string) => fetch(`${portside?.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
const start = (extra: Record<string, string> = {}) =>
  startPortside(emulatorEnv(emulatorServer.port, ORG, SINK_TOKEN, { ADMIN_TOKEN, LEDGER: `sqlite:${join(dir, `ledger-${++n}.sqlite`)}`, ...extra }));
const MB = 1024 * 1024;

test("dead letters: the console and the list read no record's bytes; one letter's page reads its own alone", async () => {
  portside = await start();
  const LETTERS = 40;
  const SIZE = 4.5 * MB;
  for (let i = 0; i < LETTERS; i++) {
    // Not JSON (an object that never closes): parked as it arrived, 4.5 MB each.
    const res = await sink("/sink/runs", `{"n":${i},"pad":"${"x".repeat(SIZE)}`);
    expect(res.status).toBe(200);
  }
  const pid = portside.proc.pid;
  const answers: { status: number; length: number }[] = [];
  let page: { items: Record<string, unknown>[]; next: string | null } = { items: [], next: null };
  const listed = await peakGrowth(pid, async () => {
    const res = await admin("/console");
    answers.push({ status: res.status, length: (await res.text()).length });
    page = (await (await admin("/admin/dead-letters?limit=1000")).json()) as typeof page;
  });
  const one = await peakGrowth(pid, async () => {
    const res = await admin("/console/dead-letters/1");
    answers.push({ status: res.status, length: (await res.text()).length });
  });
  console.log(
    `[memory] 40 parked 4.5 MB records: console + list of 1,000 peak +${listed.growth.toFixed(1)} MB; one letter's page +${one.growth.toFixed(1)} MB`,
  );
  // Before: the console alone took +239 MB, the list of 1,000 answered 270 MB (at 640 MB resident).
  expect(listed.growth).toBeLessThan(40);
  expect(one.growth).toBeLessThan(40);
  for (const answer of answers) expect(answer).toEqual({ status: 200, length: expect.any(Number) });
  expect(answers.every((a) => a.length < 200_000)).toBe(true);
  expect(page.items.length).toBe(LETTERS);
  expect(page.items.every((l) => !("raw" in l) && typeof l.size === "number" && l.size > SIZE)).toBe(true);
}, 120_000);

test("a 200 MB answer from Port is read no further than the cap: the rest is cancelled", async () => {
  let sent = 0;
  const huge = () =>
    new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 200 * MB) return controller.close();
        const chunk = new Uint8Array(MB).fill(0x61);
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
  // Port that hands out tokens and answers every report with a 422 whose body never seems to end.
  const port = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) =>
      new URL(req.url).pathname === "/v1/auth/access_token"
        ? Response.json({ ok: true, accessToken: "t", expiresIn: 3600, tokenType: "Bearer" })
        : new Response(huge(), { status: 422, headers: { "content-type": "text/plain" } }),
  });
  try {
    portside = await start({ PORT_API_URL: `http://127.0.0.1:${port.port}` });
    const pid = portside.proc.pid;
    const reported = await peakGrowth(pid, async () => {
      expect((await sink("/sink/runs", JSON.stringify(runMessage("r_huge_answer")))).status).toBe(200);
      const deadline = Date.now() + 60_000;
      for (;;) {
        const stats = (await (await admin("/admin/stats")).json()) as { ledger: { failedReports: number; pendingReports: number } };
        if (stats.ledger.pendingReports === 0 && stats.ledger.failedReports > 0) break;
        if (Date.now() > deadline) throw new Error(`the reports were not refused in time\n${portside?.output.join("")}`);
        await Bun.sleep(50);
      }
    });
    console.log(`[memory] Port answering 200 MB bodies: peak +${reported.growth.toFixed(1)} MB; ${(sent / MB).toFixed(0)} MB pulled from the server`);
    // Before: the whole body was read (RSS 58 → 664 MB for 600 MB).
    expect(reported.growth).toBeLessThan(40);
    expect(sent).toBeLessThan(40 * MB);
  } finally {
    port.stop(true);
  }
}, 120_000);

test("runs with 2.4 MB action ids: parked, never kept or logged whole", async () => {
  portside = await start({ LOG_LEVEL: "info", MEMORY_LIMIT_MB: "80" });
  const pid = portside.proc.pid;
  const outputBefore = portside.output.join("").length;
  const replies: string[] = [];
  const send = async (round: number) => {
    for (let i = 0; i < 40; i++) {
      const action = `a${round}_${i}_${"z".repeat(2.4 * MB)}`;
      const res = await sink("/sink/runs", JSON.stringify(runMessage(`r_long_action_${round}_${i}`, action)));
      expect(res.status).toBe(200);
      replies.push(await res.text());
    }
    await Bun.sleep(300);
    return resident(pid).rssMb;
  };
  // The first 40 leave what processing them left (garbage the collector has not returned); the next 40
  // show what is kept: nothing of theirs.
  const first = await send(1);
  const second = await send(2);
  const logged = portside.output.join("").length - outputBefore;
  console.log(
    `[memory] 2 × 40 runs with 2.4 MB action ids: resident ${first.toFixed(0)} MB after the first 40 → ${second.toFixed(0)} MB after the next 40; ${logged} bytes logged`,
  );
  // Before: each 2.4 MB id was kept in the set of logged unhandled actions (+96 MB per 40) and logged whole.
  expect(second - first).toBeLessThan(30);
  expect(logged).toBeLessThan(100_000);
  for (const text of [...replies, portside.output.join("")]) expect(text).not.toContain("z".repeat(200));
  const letters = (await (await admin("/admin/dead-letters?limit=1000")).json()) as { items: { reason: string }[] };
  expect(letters.items.length).toBe(80);
  expect(letters.items[0]?.reason).toMatch(
    /^invalid legacy run: action: expected a Port action identifier \(.*at most 100 characters\), got one of 2,516,58\d characters$/,
  );
}, 120_000);
