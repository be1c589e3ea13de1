/**
 * Operator command line for a running portside, over its authenticated /admin endpoints.
 *
 *   bun src/cli.ts dead-letters list [--limit N] [--json]
 *   bun src/cli.ts dead-letters show <id>
 *   bun src/cli.ts dead-letters replay <id>      validate again; accepted when valid, else stays parked
 *   bun src/cli.ts dead-letters replay --all     replay every parked record
 *   bun src/cli.ts dead-letters remove <id>
 *   bun src/cli.ts stats
 *
 * PORTSIDE_URL (default http://127.0.0.1:3000) and ADMIN_TOKEN (or SINK_TOKEN) say where and as whom.
 */
import { parseArgs } from "node:util";

interface DeadLetterView {
  id: string;
  kind: string;
  reason: string;
  source: string;
  runId: string | null;
  parkedAt: number;
  raw: string;
}

export async function runCli(argv: string[], env: Record<string, string | undefined>, out: (line: string) => void = console.log): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { limit: { type: "string" }, json: { type: "boolean" }, all: { type: "boolean" } },
  });
  const base = (env.PORTSIDE_URL ?? "http://127.0.0.1:3000").replace(/\/+$/, "");
  const token = env.ADMIN_TOKEN ?? env.SINK_TOKEN;
  const call = async (method: string, path: string) => {
    const res = await fetch(`${base}/admin${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
    const text = await res.text();
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    return { status: res.status, body };
  };
  const fail = (status: number, body: Record<string, unknown>) => {
    out(`error ${status}: ${String(body.message ?? body.error ?? "request failed")}`);
    return 1;
  };

  const [group, verb, id] = positionals;
  if (group === "stats") {
    const r = await call("GET", "/stats");
    if (r.status !== 200) return fail(r.status, r.body);
    out(JSON.stringify(r.body, null, 2));
    return 0;
  }
  if (group !== "dead-letters") {
    out("usage: dead-letters list|show|replay|remove [id] [--all] [--limit N] [--json] | stats");
    return 2;
  }
  switch (verb) {
    case "list": {
      const r = await call("GET", `/dead-letters?limit=${Number(values.limit ?? 100)}`);
      if (r.status !== 200) return fail(r.status, r.body);
      const items = r.body.items as DeadLetterView[];
      if (values.json) out(JSON.stringify(items, null, 2));
      else if (items.length === 0) out("no parked records");
      else for (const l of items) out(`${l.id}  ${new Date(l.parkedAt).toISOString()}  ${l.kind.padEnd(6)}  ${l.runId ?? "-"}  ${l.source}  ${l.reason}`);
      return 0;
    }
    case "show": {
      if (!id) return fail(2, { message: "show needs an id" });
      const r = await call("GET", `/dead-letters/${encodeURIComponent(id)}`);
      if (r.status !== 200) return fail(r.status, r.body);
      out(JSON.stringify(r.body, null, 2));
      return 0;
    }
    case "replay": {
      const ids = values.all ? ((await call("GET", "/dead-letters?limit=1000")).body.items as DeadLetterView[]).map((l) => l.id) : id ? [id] : [];
      if (ids.length === 0) return fail(2, { message: values.all ? "nothing is parked" : "replay needs an id or --all" });
      let failures = 0;
      for (const one of ids) {
        const r = await call("POST", `/dead-letters/${encodeURIComponent(one)}/replay`);
        if (r.status === 200) out(`${one}: replayed (${String(r.body.outcome)})`);
        else {
          failures++;
          out(`${one}: ${String(r.body.message ?? r.status)}`);
        }
      }
      return failures === 0 ? 0 : 1;
    }
    case "remove": {
      if (!id) return fail(2, { message: "remove needs an id" });
      const r = await call("DELETE", `/dead-letters/${encodeURIComponent(id)}`);
      if (r.status !== 204) return fail(r.status, r.body);
      out(`${id}: removed`);
      return 0;
    }
    default:
      out("usage: dead-letters list|show|replay|remove [id] [--all] [--limit N] [--json] | stats");
      return 2;
  }
}

if (import.meta.main) process.exit(await runCli(process.argv.slice(2), process.env));
