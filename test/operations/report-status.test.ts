import { afterEach, expect, test } from "bun:test";
import { runCli } from "../../src/entry/cli.ts";
import type { RunList, RunStory } from "../../src/observe/run-history.ts";
import { ADMIN_TOKEN, createHarness, type Harness, runMessage } from "../support/harness.ts";

/**
 * The run history never says more than Port has: a run whose status Port has not taken yet lists as
 * `SUCCESS · report pending`, one whose status Port refused as `SUCCESS · report refused (404 not_found)`, in
 * /admin/runs, the console (list and run page) and `cli runs list`; only a delivered status is a plain SUCCESS.
 * What Port refused is counted in `portside_reports_refused_total{endpoint,status}`.
 */
let h: Harness | undefined;
let server: ReturnType<typeof Bun.serve> | undefined;
afterEach(async () => {
  server?.stop(true);
  server = undefined;
  await h?.stop();
  h = undefined;
});

const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };
const listed = async (harness: Harness, runId: string) =>
  ((await (await harness.admin("/runs")).json()) as RunList).items.find((r) => r.runId === runId) as RunStory;
const page = async (harness: Harness, path: string) => (await harness.service.app.request(path, { headers: bearer })).text();
/** The value of one series of /metrics; undefined when it has no sample. */
async function metric(harness: Harness, series: string): Promise<number | undefined> {
  const text = await page(harness, "/metrics");
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** `cli runs list` against the harness's app on a real socket. */
async function cliList(harness: Harness): Promise<string[]> {
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => harness.service.app.fetch(request) });
  const lines: string[] = [];
  expect(await runCli(["runs", "list"], { PORTSIDE_URL: `http://127.0.0.1:${server.port}`, ADMIN_TOKEN }, (line) => lines.push(line))).toBe(0);
  return lines;
}

test("credentials that go wrong while a run runs (Port answering 401): the run is SUCCESS · report pending, never a plain SUCCESS", async () => {
  const harness = await createHarness({
    handlers: {
      runs: {
        deploy: async () => {
          // The client secret was rotated in Port meanwhile: the token is gone, and no new one is issued.
          harness.emulator.state.revokeTokens();
          harness.emulator.state.failNext(10_000, 401, { endpoint: "token" });
          return { summary: "deployed" };
        },
      },
    },
  });
  h = harness;
  await harness.post("/sink/runs", JSON.stringify(runMessage("r_held", "deploy")));
  await harness.waitUntil(() => harness.logs.some((l) => l.includes('"event":"port.report.retry"')), "the status report to be retried");
  expect(harness.emulator.state.terminalStatus("r_held")).toBeUndefined();

  const run = await listed(harness, "r_held");
  expect(run).toMatchObject({ phase: "SUCCESS", summary: "deployed", report: { state: "pending", reason: expect.stringContaining("Port answered 401") } });
  expect((await (await harness.admin("/runs/r_held")).json()) as RunStory).toMatchObject({ phase: "SUCCESS", report: { state: "pending" } });

  const home = await page(harness, "/console");
  expect(home).toContain('<span class="SUCCESS">SUCCESS</span> · <span class="report-pending">report pending (401 emulated_failure)</span>');
  const story = await page(harness, "/console/runs/r_held");
  expect(story).toContain("status not delivered yet; Port&#39;s last answer: Port answered 401 emulated_failure");
  expect((await cliList(harness)).find((l) => l.startsWith("r_held"))).toContain("SUCCESS · report pending (401 emulated_failure)");
  // Held, not refused: nothing is counted as refused.
  expect(await page(harness, "/metrics")).not.toMatch(/^portside_reports_refused_total\{/m);
});

test("Port refusing the status (404: a run it does not know): SUCCESS · report refused (404 not_found), with Port's words on the run page", async () => {
  h = await createHarness({ handlers: { runs: { deploy: () => ({ summary: "deployed" }) } } });
  const harness = h;
  // Port never issued this run, so it answers the status with 404.
  await harness.post("/sink/runs", JSON.stringify(runMessage("r_unknown", "deploy")), { declareRuns: false });
  await harness.waitUntil(async () => (await listed(harness, "r_unknown"))?.report?.state === "refused", "the status to be refused");

  const run = await listed(harness, "r_unknown");
  expect(run).toMatchObject({ phase: "SUCCESS", report: { state: "refused", reason: expect.stringContaining("Port answered 404 not_found") } });
  const home = await page(harness, "/console");
  expect(home).toContain('<span class="SUCCESS">SUCCESS</span> · <span class="report-refused">report refused (404 not_found)</span>');
  expect(home).not.toContain('<td class="SUCCESS">SUCCESS</td>');
  expect(await page(harness, "/console/runs/r_unknown")).toContain(
    "status refused by Port: Port answered 404 not_found: Action run with identifier &quot;r_unknown&quot; was not found",
  );
  expect((await cliList(harness)).find((l) => l.startsWith("r_unknown"))).toContain("SUCCESS · report refused (404 not_found)");
  // The metric of reports Port refused, by endpoint and status.
  expect(await metric(harness, 'portside_reports_refused_total{endpoint="patchRun",status="404"}')).toBe(1);
});

test("a handler that succeeds while Port answers the status PATCH 404: finished, report refused (404) in /admin/runs, /admin/runs/:id, the console, cli and the metric", async () => {
  h = await createHarness({ handlers: { runs: { deploy: () => ({ summary: "deployed" }) } } });
  const harness = h;
  // The run exists at Port, but Port answers its status update 404 (the emulator's fault injection).
  harness.emulator.state.failNext(1, 404, { endpoint: "patchRun" });
  await harness.post("/sink/runs", JSON.stringify(runMessage("r_patch_404", "deploy")));
  await harness.waitUntil(async () => (await listed(harness, "r_patch_404"))?.report?.state === "refused", "the status to be refused");
  expect(harness.emulator.state.terminalStatus("r_patch_404")).toBeUndefined();

  const refused = { phase: "SUCCESS", summary: "deployed", report: { state: "refused", reason: expect.stringMatching(/^Port answered 404 emulated_failure/) } };
  expect(await listed(harness, "r_patch_404")).toMatchObject(refused);
  expect((await (await harness.admin("/runs/r_patch_404")).json()) as RunStory).toMatchObject(refused);

  const home = await page(harness, "/console");
  const row = home.slice(home.indexOf('href="/console/runs/r_patch_404"'));
  expect(row.slice(0, row.indexOf("</tr>"))).toContain(
    '<td class="status"><span class="SUCCESS">SUCCESS</span> · <span class="report-refused">report refused (404 emulated_failure)</span></td>',
  );
  const story = await page(harness, "/console/runs/r_patch_404");
  expect(story).toContain(
    '<td id="run-status"><span class="SUCCESS">SUCCESS</span> · <span class="report-refused">report refused (404 emulated_failure)</span></td>',
  );
  expect(story).toContain('<td id="run-report">status refused by Port: Port answered 404 emulated_failure');
  expect((await cliList(harness)).find((l) => l.startsWith("r_patch_404"))).toMatch(
    /^r_patch_404\s+deploy\s+SUCCESS · report refused \(404 emulated_failure\)\s+attempts 1\s+deployed$/,
  );
  expect(await metric(harness, 'portside_reports_refused_total{endpoint="patchRun",status="404"}')).toBe(1);
});

test("a status Port took is a plain SUCCESS", async () => {
  h = await createHarness({ handlers: { runs: { deploy: () => ({ summary: "deployed" }) } } });
  const harness = h;
  await harness.post("/sink/runs", JSON.stringify(runMessage("r_took", "deploy")));
  await harness.waitUntil(async () => (await listed(harness, "r_took"))?.report?.state === "delivered", "the status to be delivered");
  expect(await listed(harness, "r_took")).toMatchObject({ phase: "SUCCESS", report: { state: "delivered", reason: null } });
  expect(await page(harness, "/console/runs/r_took")).toContain('<td id="run-report">status delivered</td>');
  expect((await cliList(harness)).find((l) => l.startsWith("r_took"))).toMatch(/^r_took\s+deploy\s+SUCCESS\s+attempts 1\s+deployed$/);
});
