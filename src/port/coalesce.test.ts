import { describe, expect, test } from "bun:test";
import type { PendingReport } from "../ledger/ledger.ts";
import type { PortCall } from "./calls.ts";
import { jsonBytes, nextDelivery, truncateToBytes } from "./coalesce.ts";

let seq = 0;
const report = (call: PortCall): PendingReport => ({ id: `rep-${++seq}`, runId: "r_1", call, attempts: 0 });
const log = (message: string) => report({ kind: "log", message });

describe("nextDelivery", () => {
  test("joins consecutive logs and stops at the next non-log report", () => {
    const reports = [log("a"), log("b"), log("c"), report({ kind: "update", patch: { status: "SUCCESS" } }), log("d")];
    const first = nextDelivery(reports, 0);
    expect(first).toMatchObject({ kind: "log", message: "a\nb\nc" });
    expect(first?.reports).toHaveLength(3);
    expect(nextDelivery(reports, 3)).toMatchObject({ kind: "single", reports: [reports[3]] });
    expect(nextDelivery(reports, 4)).toMatchObject({ kind: "log", message: "d" });
    expect(nextDelivery(reports, 5)).toBeUndefined();
  });

  test("keeps each coalesced body under the byte cap (JSON-escaped size)", () => {
    const line = "x".repeat(100);
    const reports = Array.from({ length: 50 }, () => log(line));
    const maxBytes = 1_000;
    let index = 0;
    const sizes: number[] = [];
    while (index < reports.length) {
      const d = nextDelivery(reports, index, maxBytes);
      if (d?.kind !== "log") throw new Error("expected a log delivery");
      expect(jsonBytes(d.message)).toBeLessThanOrEqual(maxBytes);
      sizes.push(d.reports.length);
      index += d.reports.length;
    }
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(50);
    expect(sizes[0]).toBe(9);
  });

  test("escapes count: quotes and control characters grow in JSON", () => {
    const reports = Array.from({ length: 10 }, () => log('"\u0001'.repeat(10)));
    const d = nextDelivery(reports, 0, 200);
    expect(d && jsonBytes(d.kind === "log" ? d.message : "")).toBeLessThanOrEqual(200);
  });
});

describe("truncateToBytes", () => {
  test("leaves short messages alone", () => {
    expect(truncateToBytes("hello", 100)).toBe("hello");
  });

  test("cuts an oversized message to fit and says so", () => {
    const cut = truncateToBytes("é".repeat(10_000), 2_000);
    expect(jsonBytes(cut)).toBeLessThanOrEqual(2_000);
    expect(cut).toContain("portside truncated");
  });
});
