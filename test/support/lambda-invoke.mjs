// One AWS Lambda invocation of the built function, on Node.js (not Bun), as Lambda's Node.js runtime
// would make it: `node lambda-invoke.mjs <index.mjs> <event.json> <remaining ms> [<event.json> <remaining ms> …]`.
// Several events are invocations of one warm instance, in turn. Prints one JSON line per invocation
// ({ ok, result } or { ok: false, error }) and exits (a frozen instance runs nothing more).
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [bundle, ...rest] = process.argv.slice(2);
const { handler } = await import(pathToFileURL(bundle).href);
for (let i = 0; i < rest.length; i += 2) {
  const event = JSON.parse(readFileSync(rest[i], "utf8"));
  const deadline = Date.now() + Number(rest[i + 1]);
  const context = { awsRequestId: `req-${i / 2 + 1}`, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) };
  try {
    const result = await handler(event, context);
    console.log(JSON.stringify({ ok: true, result, node: process.versions.node, bun: process.versions.bun ?? null }));
  } catch (error) {
    console.log(JSON.stringify({ ok: false, error: error instanceof Error ? error.message : String(error) }));
  }
}
process.exit(0);
