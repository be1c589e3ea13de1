import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { LedgerSetting } from "../config.ts";
import type { Ledger } from "./ledger.ts";

/** Opens the ledger the configuration names (Bun side: SQLite needs `bun:sqlite`). */
export async function openLedger(setting: LedgerSetting): Promise<Ledger> {
  switch (setting.type) {
    case "memory": {
      const { createMemoryLedger } = await import("./memory.ts");
      return createMemoryLedger();
    }
    case "sqlite": {
      mkdirSync(dirname(setting.path), { recursive: true });
      const { createSqliteLedger } = await import("./sqlite.ts");
      return createSqliteLedger({ path: setting.path });
    }
    case "redis": {
      const { createRedisLedger } = await import("./redis.ts");
      return createRedisLedger({ url: setting.url.reveal() });
    }
  }
}
