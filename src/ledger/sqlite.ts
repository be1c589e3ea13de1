import { Database } from "bun:sqlite";
import type { Ledger } from "./ledger.ts";
import type { SqliteDatabase, SqliteStatement } from "./sqlite-driver.ts";
import { openSqliteLedger, type SqliteLedgerOptions } from "./sqlite-ledger.ts";

/** The SQLite ledger on Bun (`bun:sqlite`); what it promises is in sqlite-ledger.ts. */
export function createSqliteLedger(opts: SqliteLedgerOptions): Ledger {
  return openSqliteLedger((path) => bunDatabase(new Database(path, { create: true, readwrite: true, strict: true })), opts);
}

/** A `bun:sqlite` connection as the ledger's driver: its statements fit as they are. */
export function bunDatabase(db: Database): SqliteDatabase {
  return {
    filename: db.filename,
    prepare: <Row, Params extends unknown[]>(sql: string) => db.prepare(sql) as unknown as SqliteStatement<Row, Params>,
    exec: (sql) => void db.run(sql),
    immediate<A extends unknown[], R>(fn: (...args: A) => R) {
      const transaction = db.transaction(fn);
      return (...args: A) => transaction.immediate(...args) as R;
    },
    close: () => db.close(),
  };
}
