import { afterEach, expect, test } from "bun:test";
import { ADMIN_TOKEN, createHarness, type Harness } from "../support/harness.ts";

/**
 * The console's dead letters: listed a page at a time without their bytes; one letter's page shows the
 * start of its record and offers the whole record, exactly as it arrived, as a download.
 */
let h: Harness;
afterEach(() => h.stop());

const get = (path: string) => h.service.app.request(path, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

test("a letter's page shows the first 64 Ki characters; the download is the record as it arrived; confirmations read no bytes", async () => {
  h = await createHarness();
  const big = `{"pad":"${"é".repeat(100_000)}`;
  const bad = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
  await h.post("/sink/runs", big);
  await h.post("/sink/runs", bad);
  const home = await (await get("/console")).text();
  expect(home).toContain("195.3 KiB");
  expect(home).not.toContain("é".repeat(100));

  const page = await (await get("/console/dead-letters/1")).text();
  expect(page).toContain("Only the first 65,536 characters are shown");
  expect(page.length).toBeLessThan(70_000 + 10_000);
  const download = await get("/console/dead-letters/1/raw");
  expect(download.headers.get("content-disposition")).toBe('attachment; filename="dead-letter-1.txt"');
  expect(await download.text()).toBe(big);
  const bytes = await get("/console/dead-letters/2/raw");
  expect(bytes.headers.get("content-type")).toBe("application/octet-stream");
  expect(new Uint8Array(await bytes.arrayBuffer())).toEqual(bad);

  for (const id of ["1", "2"]) expect(await (await get(`/console/dead-letters/${id}/delete`)).text()).toContain(`Delete dead letter ${id}?`);
  for (const path of ["/console/dead-letters/3/delete", "/console/dead-letters/3/raw", "/console/dead-letters/x/replay"])
    expect((await get(path)).status).toBe(404);
});

test("the home page lists 100 dead letters at a time, with a link to the later ones", async () => {
  h = await createHarness();
  expect((await h.post("/sink/runs", Array.from({ length: 130 }, (_, i) => `{"broken":${i}`).join("\n"))).status).toBe(200);
  const first = await (await get("/console")).text();
  expect(first).toContain('href="/console/dead-letters/100"');
  expect(first).not.toContain('href="/console/dead-letters/101"');
  expect(first).toContain('href="/console?letters=100#dead-letters"');
  const second = await (await get("/console?letters=100")).text();
  expect(second).toContain('href="/console/dead-letters/130"');
  expect(second).not.toContain('href="/console/dead-letters/100"');
  expect(second).not.toContain("Later dead letters");
  // A cursor that is not an id starts at the beginning.
  expect(await (await get("/console?letters=nope")).text()).toContain('href="/console/dead-letters/1"');
});
