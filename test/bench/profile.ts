/**
 * Reads the `.cpuprofile` that `bun --cpu-prof` writes when portside exits and lists where the time went:
 * self time per function (top 25), and the share of time under a few functions of the hot path.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const repo = new URL("../..", import.meta.url).pathname;

export function summariseProfile(dir: string, top = 25): string {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort()
    .pop();
  if (!file) return "(no .cpuprofile was written)";
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  const label = (n: Node) => {
    const url = n.callFrame.url ? relative(repo, n.callFrame.url.replace(/^file:\/\//, "")) : "";
    return `${n.callFrame.functionName || "(anonymous)"}${url ? ` ${url}:${n.callFrame.lineNumber + 1}` : ""}`;
  };
  // Counted in samples, not in time deltas: a sample taken late (the process was descheduled on a busy
  // machine) would otherwise charge the whole wait to whatever ran next.
  profile.samples.forEach((id) => {
    const dt = 1;
    total += dt;
    const node = byId.get(id);
    if (!node) return;
    const name = label(node);
    self.set(name, (self.get(name) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n) break;
      const l = label(n);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
    }
  });
  const pct = (us: number) => `${((100 * us) / total).toFixed(1)}%`;
  const lines = [`  ${file}: ${total} samples`, "  self (share of samples):"];
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${pct(us).padStart(6)}  ${name}`);
  lines.push("  inclusive (src/ functions):");
  for (const [name, us] of [...inclusive]
    .filter(([n]) => n.includes(" src/"))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top))
    lines.push(`    ${pct(us).padStart(6)}  ${name}`);
  return lines.join("\n");
}

if (import.meta.main) console.log(summariseProfile(process.argv[2] ?? join(repo, ".portside", "bench-profile")));
