import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPortEmulator } from "../../src/emulator/port-emulator.ts";
import { ORG, runMessage, SINK_TOKEN } from "../support/harness.ts";
import { freePort, waitForHttp } from "../support/net.ts";

/**
 * The core app on Deno 2 (from the `deno` npm package): start `src/deno.ts` under Deno as a real
 * process, post a run over a real socket, and see it reach the Port emulator (served here by Bun).
 */
const repo = new URL("../..", import.meta.url).pathname;
const emulator = createPortEmulator({});
let emulatorServer: ReturnType<typeof Bun.serve>;
let deno: ReturnType<typeof Bun.spawn>;
let url: string;
const output: string[] = [];

beforeAll(async () => {
  emulatorServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: emulator.app.fetch });
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  deno = Bun.spawn([`${repo}node_modules/.bin/deno`, "run", "--allow-net", "--allow-env", "--allow-read", "--allow-sys", "src/deno.ts"], {
    cwd: repo,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      DENO_NO_UPDATE_CHECK: "1",
      PORT: String(port),
      HOST: "127.0.0.1",
      ORG_ID: ORG,
      SINK_TOKEN,
      PORT_API_URL: `http://127.0.0.1:${emulatorServer.port}`,
      PORT_CLIENT_ID: "emulator-client-id",
      PORT_CLIENT_SECRET: "emulator-client-secret",
      HANDLERS: "test/deno/handlers.ts",
      LEDGER: "memory",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  for (const stream of [deno.stdout, deno.stderr] as ReadableStream<Uint8Array>[]) {
    void (async () => {
      const reader = stream.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) output.push(new TextDecoder().decode(r.value));
    })();
  }
  await waitForHttp(`${url}/healthz`, 60_000).catch((error) => {
    throw new Error(`Deno did not start: ${error}\n${output.join("")}`);
  });
}, 90_000);

afterAll(async () => {
  deno?.kill("SIGTERM");
  await deno?.exited;
  emulatorServer?.stop(true);
});

test("a run posted to portside on Deno completes at the Port emulator", async () => {
  emulator.state.declareRun("r_deno");
  const res = await fetch(`${url}/sink/runs`, {
    method: "POST",
    body: JSON.stringify(runMessage("r_deno", "deploy")),
    headers: { authorization: `Bearer ${SINK_TOKEN}` },
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ accepted: 1 });
  const deadline = Date.now() + 20_000;
  while (!emulator.state.terminalStatus("r_deno") && Date.now() < deadline) await Bun.sleep(20);
  expect(emulator.state.terminalStatus("r_deno")).toBe("SUCCESS");
  expect(emulator.state.runs.get("r_deno")?.summary).toBe("ran on deno");
  expect(emulator.state.logsFor("r_deno").join("\n")).toContain("hello from deno");
  expect(output.join("")).toContain('"runtime":"deno"');
}, 30_000);
