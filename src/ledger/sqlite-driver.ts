/**
 * The part of a SQLite binding the SQLite ledger uses, so one ledger runs on Bun (`bun:sqlite`, see
 * sqlite.ts) and on Deno (`node:sqlite`, see sqlite-node.ts). Statements use numbered parameters (`?1`)
 * bound by position, which both bindings do the same way.
 */
export interface SqliteStatement<Row = unknown, Params extends unknown[] = unknown[]> {
  run(...params: Params): { changes: number; lastInsertRowid: number | bigint };
  /** The first row; null or undefined when there is none. */
  get(...params: Params): Row | null | undefined;
  all(...params: Params): Row[];
}

export interface SqliteDatabase {
  /** For messages: the file this connection is on. */
  readonly filename: string;
  prepare<Row = unknown, Params extends unknown[] = unknown[]>(sql: string): SqliteStatement<Row, Params>;
  /** Runs one statement that returns nothing (PRAGMAs, migrations). */
  exec(sql: string): void;
  /** `fn` as one IMMEDIATE transaction: committed when it returns, rolled back when it throws. */
  immediate<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  close(): void;
}
