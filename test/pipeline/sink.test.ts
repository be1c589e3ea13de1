import { afterEach, describe, expect, test } from "bun:test";
import { createHarness, runMessage, type Harness } from "../support/harness.ts";

let h: Harness;
afterEach(async () => h?.stop());

const ok = { runs: { deploy: async () => ({ summary: "done" }) } };

describe("sink body forms", () => {
  test("single value, JSON array and newline-delimited bodies, mixed with invalid and duplicate records", async () => {
    h = await createHarness({ handlers: ok });
    const a = JSON.stringify(runMessage("r_a"));
    const b = JSON.stringify(runMessage("r_b"));
    const c = JSON.stringify(runMessage("r_c"));

    const single = await h.post("/sink/runs", a, { headers: { "content-type": "application/json" } });
    expect(single.status).toBe(200);
    expect(await single.json()).toEqual({ records: 1, accepted: 1, duplicate: 0, parked: 0, ignored: 0 });

    // JSON array (Confluent batch.json.as.array): one new, one duplicate, one record with no run id.
    const array = await h.post("/sink/runs", `[${b},${a},{"action":"deploy"}]`);
    expect(array.status).toBe(200);
    const arrayBody = (await array.json()) as Record<string, unknown>;
    expect(arrayBody).toMatchObject({ records: 3, accepted: 1, duplicate: 1, parked: 1 });
    expect(String((arrayBody.parkedReasons as string[])[0])).toContain("not a recognised run message");

    // Newline-delimited (Aiven default), no Content-Type, blank lines and CRLF, a broken line in the middle.
    const ndjson = await h.post("/sink/runs", `\n${c}\r\n\n{not json\n${b}\n`);
    expect(ndjson.status).toBe(200);
    expect(await ndjson.json()).toMatchObject({ records: 3, accepted: 1, duplicate: 1, parked: 1 });

    await h.waitForTerminal(["r_a", "r_b", "r_c"]);
    for (const id of ["r_a", "r_b", "r_c"]) {
      expect(h.emulator.state.terminalStatus(id)).toBe("SUCCESS");
      // Duplicates did nothing: exactly one terminal PATCH per run.
      expect(h.emulator.state.callsFor(id).filter((call) => call.endpoint === "patchRun")).toHaveLength(1);
    }
    const letters = (await (
      await h.service.app.request("/admin/dead-letters", { headers: { authorization: `Bearer ${h.config.adminToken?.reveal()}` } })
    ).json()) as { items: { id: string; reason: string; source: string }[] };
    expect(letters.items).toHaveLength(2);
    expect(letters.items.map((l) => l.source)).toEqual(["sink/runs", "sink/runs"]);
    expect((await h.admin(`/dead-letters/${letters.items[1]?.id}`).then((r) => r.json())).raw).toBe("{not json");
  });

  test("an empty body is a valid, empty batch", async () => {
    h = await createHarness({ handlers: ok });
    const res = await h.post("/sink/runs", "");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ records: 0, accepted: 0, duplicate: 0, parked: 0, ignored: 0 });
  });
});

describe("refusals", () => {
  test("no Authorization header → 401 saying which header to send; nothing recorded", async () => {
    h = await createHarness({ handlers: ok });
    const res = await h.post("/sink/runs", JSON.stringify(runMessage("r_x")), { token: null });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toBe("unauthorized");
    expect(body.message).toContain("Authorization: Bearer");
    expect((await h.ledger.counts()).pendingWork + (await h.ledger.counts()).doneWork).toBe(0);
  });

  test("wrong token → 401 naming SINK_TOKEN", async () => {
    h = await createHarness({ handlers: ok });
    const res = await h.post("/sink/runs", JSON.stringify(runMessage("r_x")), { token: "not-the-token-at-all" });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { message: string }).message).toContain("SINK_TOKEN");
    expect(res.headers.get("www-authenticate")).toContain("Bearer");
  });

  test("body over BODY_LIMIT_BYTES → 413 saying how to fix it; nothing recorded", async () => {
    h = await createHarness({ handlers: ok, env: { BODY_LIMIT_BYTES: "2048" } });
    const big = Array.from({ length: 20 }, (_, i) => JSON.stringify(runMessage(`r_big${i}`))).join("\n");
    expect(big.length).toBeGreaterThan(2048);
    const res = await h.post("/sink/runs", big);
    expect(res.status).toBe(413);
    const body = (await res.json()) as { error: string; message: string };
    expect(body).toMatchObject({ error: "body_too_large" });
    expect(body.message).toContain("BODY_LIMIT_BYTES");
    expect((await h.ledger.counts()).pendingWork + (await h.ledger.counts()).doneWork).toBe(0);
  });

  test("a run of another organisation is parked and never executed or reported", async () => {
    let called = 0;
    h = await createHarness({ handlers: { runs: { deploy: async () => void called++ } } });
    const res = await h.post("/sink/runs", JSON.stringify(runMessage("r_foreign", "deploy", { orgId: "org_someone_else" })));
    expect(await res.json()).toMatchObject({ accepted: 0, parked: 1 });
    const [letter] = await h.ledger.listDeadLetters();
    // The reason names the field, never the organisation the record claims (no input value is echoed).
    expect(letter?.reason).toBe("trigger.by.orgId is not this deployment's organisation (ORG_ID); not executed");
    expect(letter?.reason).not.toContain("org_someone_else");
    expect(letter?.runId).toBe("r_foreign");
    await new Promise((r) => setTimeout(r, 100));
    expect(called).toBe(0);
    expect(h.emulator.state.callsFor("r_foreign")).toHaveLength(0);
  });

  test("an invalid run that still names its run id is parked and reported FAILURE with the reason", async () => {
    h = await createHarness({ handlers: ok });
    const broken = runMessage("r_poison") as Record<string, unknown>;
    broken.payload = "not an object";
    const res = await h.post("/sink/runs", JSON.stringify(broken));
    expect(await res.json()).toMatchObject({ accepted: 0, parked: 1 });
    await h.waitForTerminal(["r_poison"]);
    expect(h.emulator.state.terminalStatus("r_poison")).toBe("FAILURE");
    expect(h.emulator.state.runs.get("r_poison")?.summary).toContain("payload");
  });
});

describe("trouble a resend can cure", () => {
  test("ledger unavailable → 503 with Retry-After, saying nothing was accepted", async () => {
    const { createMemoryLedger } = await import("../../src/ledger/memory.ts");
    const ledger = createMemoryLedger();
    let down = true;
    const flaky = {
      ...ledger,
      commit: (...args: Parameters<typeof ledger.commit>) => (down ? Promise.reject(new Error("disk I/O error")) : ledger.commit(...args)),
    };
    h = await createHarness({ handlers: ok, ledger: flaky });
    const body = JSON.stringify(runMessage("r_retry_me"));
    const refused = await h.post("/sink/runs", body);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.json()).toEqual({
      error: "ledger_unavailable",
      message: "The ledger could not record this request, so nothing in it was accepted; resend it.",
    });
    // The resend after recovery is accepted and runs.
    down = false;
    expect(await (await h.post("/sink/runs", body)).json()).toMatchObject({ accepted: 1 });
    await h.waitForTerminal(["r_retry_me"]);
  });
});

describe("the reply's parked count", () => {
  test("is the number of dead letters written: a poison record resent, or twice in one request, is a duplicate", async () => {
    h = await createHarness({ handlers: ok });
    const deadLetters = async () => (await h.ledger.counts()).deadLetters;
    const poisonRun = JSON.stringify({ ...runMessage("r_poison_count"), payload: { properties: "not an object" } });
    const body = ["{not json", "{not json", poisonRun, JSON.stringify(runMessage("r_fine_count"))].join("\n");

    const first = (await (await h.post("/sink/runs", body)).json()) as Record<string, unknown>;
    expect(first).toMatchObject({ records: 4, accepted: 1, parked: 2, duplicate: 1 });
    expect(first.parkedReasons).toHaveLength(2);
    expect(await deadLetters()).toBe(2);

    // The connector resends the batch: nothing new is written, so nothing is parked.
    const resend = (await (await h.post("/sink/runs", body)).json()) as Record<string, unknown>;
    expect(resend).toMatchObject({ records: 4, accepted: 0, parked: 0, duplicate: 4 });
    expect(resend.parkedReasons).toBeUndefined();
    expect(await deadLetters()).toBe(2);
    const stats = (await (await h.admin("/stats")).json()) as { sinceStart: { parked: number; duplicate: number } };
    expect(stats.sinceStart).toMatchObject({ parked: 2, duplicate: 5 });
  });
});
