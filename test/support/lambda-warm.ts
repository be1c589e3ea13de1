/**
 * One warm AWS Lambda instance of portside (the entry `src/entry/lambda.ts` exports), invoked again and again in
 * this process, for tests that measure it from outside (test/ingress/lambda-warm.test.ts):
 *
 *   bun test/support/lambda-warm.ts <invocations> <runs per invocation>
 *
 * Configuration comes from the environment as on Lambda (ORG_ID, PORT_API_URL, PORT_CLIENT_ID/SECRET,
 * LEDGER, RETENTION_HOURS, …), plus:
 *   WARM_CLOCK_STEP_MS   the clock moves on this much between invocations (a long-lived warm instance)
 *   WARM_HANG            `1`: the first invocation holds one run whose handler never ends
 *   WARM_REMAINING_MS    the time each invocation is given (default 30000)
 * Prints one JSON line per invocation: `{ i, ok, error?, rssMb, heapMb }`, the resident size and the live
 * JavaScript heap after a full collection.
 */
import { toBase64 } from "../../src/shared/base64.ts";

const realNow = Date.now;
let offset = 0;
// Before portside is loaded: its clocks are taken from Date.now when it starts.
Date.now = () => realNow() + offset;

const { createLambdaHandler } = await import("../../src/entry/lambda.ts");
const { defineHandlers } = await import("../../src/targets/define.ts");

const [invocations = 1, perInvocation = 1] = process.argv.slice(2).map(Number);
const org = process.env.ORG_ID ?? "";
const step = Number(process.env.WARM_CLOCK_STEP_MS ?? 0);
const remainingMs = Number(process.env.WARM_REMAINING_MS ?? 30_000);
const encoder = new TextEncoder();

const handler = createLambdaHandler({
  handlers: {
    default: defineHandlers({
      runs: {
        deploy: async (run) => ({ summary: `done ${run.id}` }),
        hang: () => new Promise(() => {}),
      },
    }),
  },
  handlersSource: "test/support/lambda-warm.ts",
});

let offsetInTopic = 0;
const message = (runId: string, action: string) =>
  JSON.stringify({
    action,
    resourceType: "run",
    status: "TRIGGERED",
    trigger: { by: { orgId: org, userId: "u" }, origin: "UI", at: "2026-01-01T00:00:00.000Z" },
    context: { entity: null, blueprint: "service", runId },
    payload: { entity: null, action: { invocationMethod: { type: "KAFKA" }, trigger: "CREATE" }, properties: { version: "1.0.0" } },
  });
const event = (values: string[]) => ({
  eventSource: "aws:kafka",
  records: {
    [`${org}.runs-0`]: values.map((value) => ({ topic: `${org}.runs`, partition: 0, offset: offsetInTopic++, value: toBase64(encoder.encode(value)) })),
  },
});
const context = (ms: number) => {
  const deadline = Date.now() + ms;
  return { awsRequestId: "warm", getRemainingTimeInMillis: () => deadline - Date.now() };
};

const report = (line: Record<string, unknown>) => {
  Bun.gc(true);
  const { rss, heapUsed } = process.memoryUsage();
  const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
  console.log(JSON.stringify({ ...line, rssMb: mb(rss), heapMb: mb(heapUsed) }));
};

if (process.env.WARM_HANG === "1") {
  const result = await handler(event([message("r_warm_hangs", "hang")]), context(1_000)).then(
    () => ({ ok: true }),
    (error: Error) => ({ ok: false, error: error.message }),
  );
  report({ i: -1, ...result });
}
for (let i = 0; i < invocations; i++) {
  const values = Array.from({ length: perInvocation }, (_, n) => message(`r_warm_${i}_${n}`, "deploy"));
  const result = await handler(event(values), context(remainingMs)).then(
    () => ({ ok: true }),
    (error: Error) => ({ ok: false, error: error.message }),
  );
  report({ i, ...result });
  offset += step;
}
process.exit(0);
