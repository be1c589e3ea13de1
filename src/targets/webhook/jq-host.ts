/**
 * The jq host: a child process that loads jq (jq-wasm, real jq 1.8.2 compiled to WebAssembly) once and
 * evaluates programs sent by `jq.ts`, one JSON line in, one JSON line out. It is a process of its own because
 * a jq program can loop forever and jq-wasm runs it synchronously: neither an in-thread timer nor
 * `Worker.terminate()` stops a WebAssembly loop on Bun or Deno (measured; see README.md), while killing a
 * process does. It is started with an empty environment and jq's file system is Emscripten's in-memory one,
 * so a program sees nothing of the host but what it is given.
 *
 *   in:  {"id": 1, "input": "<JSON text>", "program": "…", "args": ["-c", …], "maxOutputBytes": 4194304}
 *   out: {"id": 1, "stdout": "…", "stderr": "…", "exitCode": 0}  or  {"id": 1, "outputBytes": N} when over the cap
 *   first line out: {"ready": "jq-1.8.2"}
 */
import process from "node:process";
import { loadJq } from "jq-wasm";

interface HostRequest {
  id: number;
  input: string;
  program: string;
  args: string[];
  maxOutputBytes: number;
}

const jq = await loadJq();
const encoder = new TextEncoder();
let buffered = "";

function answer(line: string): void {
  const request = JSON.parse(line) as HostRequest;
  const result = jq.raw(request.input, request.program, request.args);
  const outputBytes = encoder.encode(result.stdout).byteLength + encoder.encode(result.stderr).byteLength;
  const reply = outputBytes > request.maxOutputBytes ? { id: request.id, outputBytes } : { id: request.id, ...result };
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}

process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  buffered += chunk;
  for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
    const line = buffered.slice(0, end);
    buffered = buffered.slice(end + 1);
    if (line.length > 0) answer(line);
  }
});
// The parent closed its end (it stopped, or died): nothing more will come.
process.stdin.on("end", () => process.exit(0));
process.stdout.write(`${JSON.stringify({ ready: jq.version })}\n`);
