import { createMemoryLedger } from "../../src/ledger/memory.ts";
import { ledgerContract } from "./contract.ts";

ledgerContract(
  "memory",
  async () => createMemoryLedger(),
  async () => {},
);
