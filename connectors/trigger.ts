/**
 * Produces one sample Port run to ORG_ID.runs, as Port would when someone clicks an action:
 *   KAFKA_BROKERS=127.0.0.1:9094 ORG_ID=org_portside_demo PORT_EMULATOR_URL=http://127.0.0.1:5050 bun connectors/trigger.ts
 * With PORT_EMULATOR_URL, the run is first declared at that Port EMULATOR (Port knows its runs before it
 * publishes them; the emulator answers 404 for others). Leave it unset when portside reports to the real Port.
 */
import { Kafka, logLevel, Partitioners } from "kafkajs";
import "../src/shared/kafkajs-patch.ts";
import { declareAtEmulator, sampleRun } from "./local/sample-run.ts";

const brokers = process.env.KAFKA_BROKERS ?? "127.0.0.1:9094";
const org = process.env.ORG_ID ?? "org_portside_demo";
const runId = `r_sample_${Date.now().toString(36)}`;
const producer = new Kafka({ brokers: brokers.split(","), clientId: "portside-trigger", logLevel: logLevel.ERROR }).producer({
  createPartitioner: Partitioners.DefaultPartitioner,
});
const emulatorUrl = process.env.PORT_EMULATOR_URL;
if (emulatorUrl) await declareAtEmulator(emulatorUrl, runId);
await producer.connect();
await producer.send({ topic: `${org}.runs`, messages: [{ key: runId, value: JSON.stringify(sampleRun(org, runId)) }] });
await producer.disconnect();
console.log(`produced run ${runId} to ${org}.runs; watch portside's log (docker compose logs -f portside)`);
