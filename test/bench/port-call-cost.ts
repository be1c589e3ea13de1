/**
 * CPU cost of one call to Port through portside's exchange (`src/port/http.ts`: headers, timeout, the
 * answer read up to its cap, parsed), against a bare `fetch` of the same request read with `text()`:
 * `bun test/bench/port-call-cost.ts [calls]`. PATCHes a run status to test/bench/receiver.ts (a process of
 * its own, so its time is not counted), 8 in flight, after a warm-up of the same size; prints CPU (user +
 * system) per call for each, in alternating rounds.
 */
import { exchange } from "../../src/port/http.ts";
import { startScript, stopAll } from "./procs.ts";

const calls = Number(process.argv[2] ?? 24_000);
const IN_FLIGHT = 8;
const receiver = await startScript("receiver.ts", "receiver");
const deps = { fetch: (input: string | URL | Request, init?: RequestInit) => fetch(input, init), baseUrl: receiver.url, timeoutMs: 15_000 };
const path = "/v1/actions/runs/r_bench";
const patch = { status: "SUCCESS", summary: "Deployed checkout 1.2.3" };

const ways: Record<string, () => Promise<unknown>> = {
  exchange: () => exchange(deps, { method: "PATCH", path, body: patch, token: "bench-token", runId: "r_bench" }),
  "bare fetch": async () => {
    const res = await fetch(deps.baseUrl + path, {
      method: "PATCH",
      headers: { "content-type": "application/json", authorization: "Bearer bench-token" },
      body: JSON.stringify(patch),
    });
    return JSON.parse(await res.text());
  },
};

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function round(call: () => Promise<unknown>): Promise<number> {
  const started = cpuMs();
  for (let sent = 0; sent < calls; sent += IN_FLIGHT) await Promise.all(Array.from({ length: IN_FLIGHT }, call));
  return ((cpuMs() - started) / calls) * 1000;
}

try {
  for (const call of Object.values(ways)) await round(call);
  for (let r = 1; r <= 3; r++)
    for (const [name, call] of Object.entries(ways)) console.log(`round ${r}  ${name.padEnd(10)} ${(await round(call)).toFixed(1)} µs CPU per call`);
} finally {
  await stopAll();
}
