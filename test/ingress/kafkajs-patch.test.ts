import { expect, test } from "bun:test";
import { join } from "node:path";
import { getKafka } from "../support/kafka.ts";

const repo = join(import.meta.dir, "../..");

/** A process that connects a kafkajs admin, asks for the topics, sits idle a moment and leaves; its stderr. */
async function idleClientStderr(brokers: string[], withPatch: boolean): Promise<string> {
  const script = `
    ${withPatch ? 'import "./src/shared/kafkajs-patch.ts";' : ""}
    import { Kafka, logLevel } from "kafkajs";
    const admin = new Kafka({ brokers: ${JSON.stringify(brokers)}, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.listTopics();
    await Bun.sleep(500);
    await admin.disconnect();
  `;
  const proc = Bun.spawn([process.execPath, "-e", script], { cwd: repo, stdout: "ignore", stderr: "pipe" });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  expect(code).toBe(0);
  return stderr;
}

test("an idle kafkajs connection prints a TimeoutNegativeWarning, and none with portside's fix loaded", async () => {
  const { brokers } = await getKafka();
  // Without the fix the warning appears (so this test can fail); with it, stderr stays empty.
  expect(await idleClientStderr(brokers, false)).toContain("TimeoutNegativeWarning");
  expect(await idleClientStderr(brokers, true)).not.toContain("TimeoutNegativeWarning");
}, 60_000);
