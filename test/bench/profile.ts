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

/** `root`: the checkout the profiled process ran from (file names are shown relative to it). */
export function summariseProfile(dir: string, top = 25, root = repo): string {
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
    const url = n.callFrame.url ? relative(root, n.callFrame.url.replace(/^file:\/\//, "")) : "";
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
  const lines = [`  ${file}: ${total} samples`, "  by part of portside (each sample to the part of the innermost frame that has one):"];
  for (const [part, n] of byPart(profile, byId, parent)) lines.push(`    ${pct(n).padStart(6)}  ${part}`);
  lines.push("  self (share of samples):");
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`    ${pct(us).padStart(6)}  ${name}`);
  lines.push("  inclusive (src/ functions):");
  for (const [name, us] of [...inclusive]
    .filter(([n]) => n.includes(" src/"))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top))
    lines.push(`    ${pct(us).padStart(6)}  ${name}`);
  return lines.join("\n");
}

/**
 * Parts of portside a sample can be charged to: the innermost frame of its stack whose file one of them
 * matches decides (tried in this order for each frame). Garbage collection and idle are the innermost frame's own.
 */
const PARTS: Array<[string, RegExp]> = [
  ["SQLite ledger (statements, group commit)", /src\/ledger\//],
  ["AWS SDK (PutEvents: serialise, sign, send)", /@smithy|@aws-sdk|src\/targets\/eventbridge\/publisher/],
  ["EventBridge target (events, batching)", /src\/targets\/eventbridge\//],
  ["executor", /src\/pipeline\/(executor|work|run-context|parsed-runs)/],
  ["the bench's handler module", /test\/bench\/[\w-]*handlers/],
  ["acceptance (split, parse, validate, digest)", /src\/pipeline\/(accept|ingest)|src\/messages\//],
  ["HTTP intake (Hono, sink)", /src\/ingress\/|src\/app\.ts|src\/http\/|node_modules\/hono/],
  ["reporter and Port client", /src\/port\//],
  ["metrics (prom-client)", /src\/observe\/metrics|node_modules\/prom-client/],
  ["run history, journal, events (observe, console)", /src\/observe\/|src\/console\//],
  ["logging", /src\/log(-pretty)?\.ts/],
  ["Kafka consumer (kafkajs)", /node_modules\/kafkajs|src\/shared\/kafka/],
  ["start-up and wiring (src/entry, service)", /src\/entry\/|src\/main\.ts|src\/service\.ts/],
];

function byPart(profile: Profile, byId: Map<number, Node>, parent: Map<number, number>): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const id of profile.samples) {
    const leaf = byId.get(id)?.callFrame.functionName ?? "";
    let part = leaf === "(garbage collector)" || leaf === "gc" ? "garbage collection" : leaf === "(idle)" || leaf === "(program)" ? "idle" : undefined;
    for (let cur: number | undefined = id; part === undefined && cur !== undefined; cur = parent.get(cur)) {
      const url = byId.get(cur)?.callFrame.url ?? "";
      part = PARTS.find(([, pattern]) => pattern.test(url))?.[0];
    }
    part ??= "other";
    counts.set(part, (counts.get(part) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]);
}

if (import.meta.main) console.log(summariseProfile(process.argv[2] ?? join(repo, ".portside", "bench-profile")));
