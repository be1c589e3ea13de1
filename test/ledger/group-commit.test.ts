import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { createGroupCommit } from "../../src/ledger/group-commit.ts";
import { bunDatabase } from "../../src/ledger/sqlite.ts";

function setup() {
  const db = new Database(":memory:", { strict: true });
  db.run("CREATE TABLE t (v TEXT PRIMARY KEY)");
  const insert = db.prepare<never, [string]>("INSERT INTO t (v) VALUES (?1)");
  const values = () => (db.query("SELECT v FROM t ORDER BY v").all() as Array<{ v: string }>).map((r) => r.v);
  return { db, insert, values, group: createGroupCommit(bunDatabase(db)) };
}

test("calls of one turn run in call order; a failing job fails alone and leaves nothing behind", async () => {
  const { insert, values, group } = setup();
  const results = await Promise.allSettled([
    group.run(() => {
      insert.run("a");
      return "first";
    }),
    group.run(() => {
      insert.run("b");
      insert.run("a"); // duplicate: this job fails after writing "b"
    }),
    group.run(() => {
      insert.run("c");
      return values();
    }),
  ]);
  expect(results[0]).toEqual({ status: "fulfilled", value: "first" });
  expect(results[1]?.status).toBe("rejected");
  expect(results[2]).toEqual({ status: "fulfilled", value: ["a", "c"] });
  expect(values()).toEqual(["a", "c"]);
});

test("close runs what is queued, then refuses new jobs", async () => {
  const { insert, values, group } = setup();
  const pending = group.run(() => insert.run("x"));
  await group.close();
  await pending;
  expect(values()).toEqual(["x"]);
  await expect(group.run(() => insert.run("y"))).rejects.toThrow(/closed/);
});
