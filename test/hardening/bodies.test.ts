import { afterEach, describe, expect, test } from "bun:test";
import { createHarness, type Harness, runMessage } from "../support/harness.ts";

/**
 * Hostile and odd bodies at the sink: no body within the size limit gets a 5xx because of what it holds,
 * every good record in it is accepted, and every bad one is parked with the bytes that arrived.
 */
let h: Harness;
afterEach(async () => h?.stop());

const ok = { runs: { deploy: async () => ({ summary: "done" }) } };
const run = (id: string) => JSON.stringify(runMessage(id));
type Letter = { id: string; reason: string; raw: string; rawEncoding: string; runId: string | null };
/** Every parked record with its bytes: the list, then each letter (the list carries no bytes). */
const letters = async () => {
  const { items } = (await (await h.admin("/dead-letters")).json()) as { items: { id: string }[] };
  return Promise.all(items.map(async ({ id }) => (await (await h.admin(`/dead-letters/${id}`)).json()) as Letter));
};

describe("a deeply nested record", () => {
  test("is parked with its bytes, the rest of the batch is accepted, and a resend is answered 200 again", async () => {
    h = await createHarness({ handlers: ok });
    const nested = `{"inputs":${"[".repeat(50_000)}${"]".repeat(50_000)}}`;
    const body = `[${run("r_deep_a")},${nested},${run("r_deep_b")}]`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await h.post("/sink/runs", body);
      expect(res.status).toBe(200);
      // The resend's copy of the nested record is parked already: a duplicate, like the runs.
      expect(await res.json()).toMatchObject({ records: 3, parked: attempt === 0 ? 1 : 0, accepted: attempt === 0 ? 2 : 0, duplicate: attempt === 0 ? 0 : 3 });
    }
    await h.waitForTerminal(["r_deep_a", "r_deep_b"]);
    const [letter] = await letters();
    expect(letter?.reason).toBe("element 2: nested 50001 levels deep, more than the 128 portside reads");
    expect(letter?.raw).toBe(nested);
  });
});

describe("a JSON array with a malformed element", () => {
  test("keeps the good elements, parks only the bad one, and tells Port when its run id can be read", async () => {
    h = await createHarness({ handlers: ok });
    const broken = `{"action":"deploy","resourceType":"run","context":{"runId":"r_broken"},"trigger":{"by":{"orgId":"org_sYG4DOJZNGy8bYnt"}},"payload":}`;
    const unreadable = `{"bad": }`;
    for (const body of [
      `[${run("r_arr_a")},${broken},${unreadable},${run("r_arr_b")}]`,
      JSON.stringify([runMessage("r_arr_c")], null, 2).replace(/\n\]$/, `,\n  ${broken.replace("r_broken", "r_broken2")}\n]`),
    ]) {
      const res = await h.post("/sink/runs", body);
      expect(res.status).toBe(200);
    }
    await h.waitForTerminal(["r_arr_a", "r_arr_b", "r_arr_c", "r_broken", "r_broken2"]);
    for (const id of ["r_arr_a", "r_arr_b", "r_arr_c"]) expect(h.emulator.state.terminalStatus(id)).toBe("SUCCESS");
    for (const id of ["r_broken", "r_broken2"]) {
      expect(h.emulator.state.terminalStatus(id)).toBe("FAILURE");
      expect(h.emulator.state.runs.get(id)?.summary).toBe("Invalid run message: element 2: not valid JSON");
    }
    const parked = await letters();
    expect(parked.map((l) => [l.raw, l.runId])).toEqual([
      [broken, "r_broken"],
      [unreadable, null],
      [broken.replace("r_broken", "r_broken2"), "r_broken2"],
    ]);
  });

  test("a broken record that names another consumer's run is parked, never reported", async () => {
    h = await createHarness({ handlers: ok });
    const agents = `{"context":{"runId":"r_agents"},"payload":{"action":{"invocationMethod":{"type":"WEBHOOK","agent":true}}},}`;
    const foreign = `{"context":{"runId":"r_foreign"},"trigger":{"by":{"orgId":"org_other"}},}`;
    expect((await h.post("/sink/runs", `[${agents},${foreign}]`)).status).toBe(200);
    expect((await letters()).map((l) => l.runId)).toEqual([null, null]);
    await Bun.sleep(50);
    expect(h.emulator.state.calls.filter((c) => c.runId === "r_agents" || c.runId === "r_foreign")).toEqual([]);
  });
});

describe("bytes that are not UTF-8", () => {
  test("park the record with its exact bytes (base64 in the API); the other records run unaltered", async () => {
    h = await createHarness({ handlers: { runs: { deploy: async (r) => ({ summary: `inputs ${JSON.stringify(r.inputs)}` }) } } });
    const encoder = new TextEncoder();
    const bad = new Uint8Array([...encoder.encode(run("r_latin1").replace('"1.0.0"', '"caf')), 0xe9, ...encoder.encode('"}}}')]);
    const body = new Uint8Array([...encoder.encode(`${run("r_utf8_ok")}\n`), ...bad, 0x0a]);
    const res = await h.post("/sink/runs", body);
    expect(await res.json()).toMatchObject({ records: 2, accepted: 1, parked: 1 });
    await h.waitForTerminal(["r_utf8_ok"]);
    expect(h.emulator.state.runs.get("r_utf8_ok")?.summary).toBe('inputs {"version":"1.0.0"}');
    const [letter] = await letters();
    expect(letter?.rawEncoding).toBe("base64");
    expect(Buffer.from(letter?.raw ?? "", "base64")).toEqual(Buffer.from(bad));
    expect(letter?.reason).toBe("line 2: not valid UTF-8; parked with its bytes as they arrived");
    // Never run with U+FFFD in its inputs, never reported on a guess at its bytes. (The run exists at the
    // emulator now — runs are declared before they are posted, as at Port — so the check is on the calls.)
    expect(h.emulator.state.callsFor("r_latin1")).toEqual([]);
    expect(h.emulator.state.runs.get("r_latin1")?.status).toBe("IN_PROGRESS");
  });
});

describe("a body of many tiny bad records", () => {
  test("gets a small reply: counts and at most 20 reasons", async () => {
    h = await createHarness({ handlers: ok });
    const lines = Array.from({ length: 20_000 }, (_, i) => String(i));
    const res = await h.post("/sink/runs", `${lines.join("\n")}\n${run("r_among_many")}`);
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text.length).toBeLessThan(4_000);
    const reply = JSON.parse(text) as { records: number; parked: number; accepted: number; parkedReasons: string[] };
    expect(reply).toMatchObject({ records: 20_001, parked: 20_000, accepted: 1 });
    expect(reply.parkedReasons).toHaveLength(20);
    expect(reply.parkedReasons[0]).toBe("not a run message: expected a JSON object, got a number");
    await h.waitForTerminal(["r_among_many"]);
    expect((await h.ledger.counts()).deadLetters).toBe(20_000);
  });
});
