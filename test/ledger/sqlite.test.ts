import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { migrate, migrations, schemaVersion } from "../../src/ledger/sqlite-schema.ts";
import { bunDatabase, createSqliteLedger } from "../../src/ledger/sqlite.ts";
import { ledgerContract, log, rec, T0 } from "./contract.ts";

const dir = mkdtempSync(join(tmpdir(), "portside-sqlite-ledger-"));
let files = 0;
const paths = new WeakMap<Ledger, string>();
const fresh = () => join(dir, `ledger-${++files}.sqlite`);
const open = (path: string) => {
  const ledger = createSqliteLedger({ path });
  paths.set(ledger, path);
  return ledger;
};

ledgerContract(
  "sqlite",
  async () => open(fresh()),
  async () => {},
  {
    // A second connection to the same file: nothing the ledger needs lives in process memory.
    sibling: async (ledger) => open(paths.get(ledger) ?? fresh()),
  },
);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("sqlite ledger on disk", () => {
  test("survives close and reopen: pending work and reports are still there; an expired running item comes back as attempt 2", async () => {
    const path = fresh();
    const first = open(path);
    await first.commit(
      { records: [rec("run:a"), rec("run:b"), rec("run:l1", "lane"), rec("run:l2", "lane")], deadLetters: [], reports: [log("r_a", "queued")] },
      T0,
    );
    const claimed = await first.claimWork({ owner: "dead-replica", limit: 2, leaseMs: 1_000, now: T0 });
    expect(claimed.map((w) => w.key)).toEqual(["run:a", "run:b"]);
    await first.finishWork("run:b", "dead-replica", [log("r_b", "finished")], T0 + 10);
    await first.close();

    const second = open(path);
    try {
      expect(await second.counts()).toEqual({
        pendingWork: 2,
        runningWork: 1,
        doneWork: 1,
        pendingReports: 2,
        failedReports: 0,
        deadLetters: 0,
        oldestHeldReportAt: T0,
      });
      expect(await second.claimWork({ owner: "o2", limit: 10, leaseMs: 1_000, now: T0 + 999 }).then((w) => w.map((i) => i.key))).toEqual(["run:l1"]);
      const again = await second.claimWork({ owner: "o2", limit: 10, leaseMs: 1_000, now: T0 + 1_000 });
      expect(again.map((w) => [w.key, w.attempt])).toEqual([["run:a", 2]]);
      const reports = await second.claimReports({ owner: "rep", limit: 10, leaseMs: 1_000, now: T0 + 1_000 });
      expect(reports.map((r) => [r.runId, r.call])).toEqual([
        ["r_a", { kind: "log", message: "queued" }],
        ["r_b", { kind: "log", message: "finished" }],
      ]);
      expect(await second.commit({ records: [rec("run:b")], deadLetters: [], reports: [] }, T0 + 2_000)).toEqual({ records: ["duplicate"], deadLetters: [] });
    } finally {
      await second.close();
    }
  });

  test("the file is in WAL mode at the current schema version", async () => {
    const path = fresh();
    await open(path).close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
      expect(db.query("PRAGMA user_version").get()).toEqual({ user_version: schemaVersion });
    } finally {
      db.close();
    }
  });

  test("migration 2 gives dead letters parked before keys existed a key of their own; the key is unique while parked", async () => {
    const path = fresh();
    const v1 = new Database(path, { create: true, strict: true });
    migrate(bunDatabase(v1), migrations.slice(0, 1));
    const park = v1.prepare("INSERT INTO dead_letter (kind, reason, source, raw, run_id, parked_at) VALUES ('run', ?1, 'sink/runs', '{}', NULL, ?2)");
    park.run("old 1", T0);
    park.run("old 2", T0 + 1);
    v1.close();

    const ledger = open(path);
    try {
      const old = await ledger.listDeadLetters();
      expect(old.map((d) => [d.id, d.key, d.reason, d.parkedAt, d.rawEncoding])).toEqual([
        ["1", "legacy:1", "old 1", T0, "utf8"],
        ["2", "legacy:2", "old 2", T0 + 1, "utf8"],
      ]);
      const poison = {
        key: "parked:run:abc",
        kind: "run" as const,
        reason: "new",
        source: "sink/runs",
        raw: "{}",
        runId: "r1",
        reports: [log("r1", "parked")],
      };
      expect((await ledger.commit({ records: [], deadLetters: [poison, poison], reports: [] }, T0 + 2)).deadLetters).toEqual(["accepted", "duplicate"]);
      expect(await ledger.removeDeadLetter("1")).toBe(true);
      expect(await ledger.counts()).toMatchObject({ deadLetters: 2, pendingReports: 1 });
    } finally {
      await ledger.close();
    }
    const db = new Database(path, { readonly: true });
    try {
      expect(db.query("PRAGMA user_version").get()).toEqual({ user_version: schemaVersion });
      const index = db.query("SELECT sql FROM sqlite_schema WHERE name = 'dead_letter_key'").get() as { sql: string } | null;
      expect(index?.sql).toContain("UNIQUE INDEX");
    } finally {
      db.close();
    }
  });

  test("migration 4 moves dead letters' bytes apart, with their size; purging a letter takes its bytes", async () => {
    const path = fresh();
    const v3 = new Database(path, { create: true, strict: true });
    migrate(bunDatabase(v3), migrations.slice(0, 3));
    const park = v3.prepare(
      "INSERT INTO dead_letter (key, kind, reason, source, raw, raw_encoding, run_id, parked_at) VALUES (?1, 'run', 'old', 'sink/runs', ?2, ?3, NULL, ?4)",
    );
    park.run("parked:run:1", "ünïcode ✓ 😀", "utf8", T0);
    park.run("parked:run:2", "AAEC/w==", "base64", T0 + 1);
    park.run("parked:run:3", "AAECAw==".slice(0, 6), "base64", T0 + 2);
    v3.close();

    const ledger = open(path);
    try {
      const list = await ledger.listDeadLetters();
      expect(list.map((d) => [d.id, d.size, d.rawEncoding])).toEqual([
        ["1", new TextEncoder().encode("ünïcode ✓ 😀").length, "utf8"],
        ["2", 4, "base64"],
        ["3", 4, "base64"],
      ]);
      expect((await ledger.getDeadLetter("1"))?.raw).toBe("ünïcode ✓ 😀");
      expect(await ledger.purgeDeadLetters(T0 + 1)).toBe(1);
    } finally {
      await ledger.close();
    }
    const db = new Database(path, { readonly: true });
    try {
      const columns = (db.query("PRAGMA table_info(dead_letter)").all() as { name: string }[]).map((c) => c.name);
      expect(columns).not.toContain("raw");
      expect(db.query("SELECT seq FROM dead_letter_raw ORDER BY seq").all()).toEqual([{ seq: 2 }, { seq: 3 }]);
    } finally {
      db.close();
    }
  });

  test("migration 7 adds the stack of what a run's handler threw: runs ended before it have none", async () => {
    const path = fresh();
    const v6 = new Database(path, { create: true, strict: true });
    migrate(bunDatabase(v6), migrations.slice(0, 6));
    v6.run(
      "INSERT INTO work (key, kind, source, lane, state, attempt, accepted_at, started_at, finished_at, action, status, summary) VALUES ('run:r_old', 'run', 'sink/runs', NULL, 2, 1, ?1, ?1, ?2, 'deploy', 'FAILURE', 'it threw')",
      [T0, T0 + 1],
    );
    v6.close();

    const ledger = open(path);
    try {
      expect(await ledger.getRun("r_old")).toMatchObject({ status: "FAILURE", summary: "it threw", stack: null });
    } finally {
      await ledger.close();
    }
  });

  test("migration 8 marks the status reports already queued: the history says what became of each run's status", async () => {
    const path = fresh();
    const v7 = new Database(path, { create: true, strict: true });
    migrate(bunDatabase(v7), migrations.slice(0, 7));
    v7.run(
      "INSERT INTO work (key, kind, source, lane, state, attempt, accepted_at, started_at, finished_at, action, status, summary) VALUES ('run:r_old', 'run', 'sink/runs', NULL, 2, 1, ?1, ?1, ?2, 'deploy', 'SUCCESS', 'ok')",
      [T0, T0 + 1],
    );
    const report = v7.prepare(
      "INSERT INTO report (run_id, call, state, attempts, due_at, created_at, settled_at, error) VALUES ('r_old', ?1, ?2, 1, ?3, ?3, ?4, ?5)",
    );
    report.run(JSON.stringify({ kind: "log", message: "deployed" }), 1, T0 + 1, T0 + 2, null);
    report.run(JSON.stringify({ kind: "update", patch: { status: "SUCCESS", summary: "ok" } }), 2, T0 + 1, T0 + 2, "Port answered 404 not_found: gone");
    report.run(JSON.stringify({ kind: "update", patch: { summary: "no status here" } }), 1, T0 + 1, T0 + 2, null);
    v7.close();

    const ledger = open(path);
    try {
      const expected = { state: "failed" as const, attempts: 1, error: "Port answered 404 not_found: gone" };
      expect((await ledger.listRuns({ limit: 10 })).runs.map((r) => r.statusReport)).toEqual([expected]);
      expect((await ledger.getRun("r_old"))?.statusReport).toEqual(expected);
    } finally {
      await ledger.close();
    }
  });

  test("a database written by a newer portside is refused, with what to do", () => {
    const path = fresh();
    const db = new Database(path, { create: true });
    db.run(`PRAGMA user_version = ${schemaVersion + 1}`);
    db.close();
    expect(() => open(path)).toThrow(/newer than this portside knows/);
  });

  test("calls after close are refused", async () => {
    const ledger = open(fresh());
    await ledger.close();
    await ledger.close();
    await expect(ledger.counts()).rejects.toThrow(/closed/);
  });
});
