import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Ledger } from "../../src/ledger/ledger.ts";
import { createNodeSqliteLedger } from "../../src/ledger/sqlite-node.ts";
import { ledgerContract } from "../ledger/contract.ts";

/**
 * The ledger contract on Deno's SQLite ledger (`node:sqlite`), run by `deno test` through the bun:test
 * shim (test/deno/deno-ledger.test.ts starts it and reads the verdict).
 */
const dir = mkdtempSync(join(tmpdir(), "portside-deno-sqlite-"));
let files = 0;
const paths = new WeakMap<Ledger, string>();
const open = (path: string) => {
  const ledger = createNodeSqliteLedger({ path });
  paths.set(ledger, path);
  return ledger;
};

ledgerContract(
  "deno sqlite",
  async () => open(join(dir, `ledger-${++files}.sqlite`)),
  async () => rmSync(dir, { recursive: true, force: true }),
  // A second connection to the same file: nothing the ledger needs lives in process memory.
  { sibling: async (ledger) => open(paths.get(ledger) ?? join(dir, `ledger-${++files}.sqlite`)) },
);
