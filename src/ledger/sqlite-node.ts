import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import type { Ledger } from "./ledger.ts";
import type { SqliteDatabase, SqliteStatement } from "./sqlite-driver.ts";
import { openSqliteLedger, type SqliteLedgerOptions } from "./sqlite-ledger.ts";

/**
 * The SQLite ledger on `node:sqlite` — Deno's entry uses it (the same file format, schema and contract as
 * on Bun: a ledger written by one runtime opens in the other).
 */
export function createNodeSqliteLedger(opts: SqliteLedgerOptions): Ledger {
  return openSqliteLedger((path) => nodeDatabase(new DatabaseSync(path), path), opts);
}

function nodeDatabase(db: DatabaseSync, filename: string): SqliteDatabase {
  return {
    filename,
    prepare<Row, Params extends unknown[]>(sql: string): SqliteStatement<Row, Params> {
      const statement = db.prepare(sql);
      // Positional values only (`?1`…), which node:sqlite binds by index.
      type Bindings = SQLInputValue[];
      return {
        run: (...params) => {
          const result = statement.run(...(params as unknown as Bindings));
          return { changes: Number(result.changes), lastInsertRowid: result.lastInsertRowid };
        },
        get: (...params) => statement.get(...(params as unknown as Bindings)) as Row | undefined,
        all: (...params) => statement.all(...(params as unknown as Bindings)) as Row[],
      };
    },
    exec: (sql) => db.exec(sql),
    immediate<A extends unknown[], R>(fn: (...args: A) => R) {
      return (...args: A): R => {
        db.exec("BEGIN IMMEDIATE");
        let result: R;
        try {
          result = fn(...args);
        } catch (error) {
          db.exec("ROLLBACK");
          throw error;
        }
        db.exec("COMMIT");
        return result;
      };
    },
    close: () => db.close(),
  };
}
