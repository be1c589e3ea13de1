import * as v from "valibot";
import { defineActions, portInputs } from "../../src/actions/index.ts";
import { defineHandlers } from "../../src/targets/define.ts";

/**
 * Careless handlers for the redaction test: each puts the clear value of the secret input `pw` (or a piece
 * of it) where portside sends text on — a log line, an entity's title and properties, a thrown message,
 * Bun's own `JSON.parse` error, the summary and link of a result. `typed` has the action's definition (as
 * `actions pull` writes it), so `pw` reaches it as a `Secret`: it logs the whole of `run.inputs`, and the
 * revealed value too.
 */
const untyped = { operation: null, blueprint: null, invocation: "KAFKA", inputs: null } as const;
const actions = defineActions({
  careless: untyped,
  parse: untyped,
  chatty: untyped,
  typed: {
    operation: "DAY-2",
    blueprint: null,
    invocation: "KAFKA",
    inputs: v.object({ version: v.string(), pw: portInputs.secret(v.string()) }),
  },
});

export default defineHandlers({
  actions,
  runs: {
    careless: async (run) => {
      const pw = String(run.inputs.pw);
      await run.log(`logging in with ${pw}`);
      await run.upsertEntity("service", { identifier: "svc-careless", title: `svc ${pw}`, properties: { note: `pw=${pw}`, [pw]: true } });
      throw new Error(`bad pw ${pw}`);
    },
    parse: async (run) => {
      // Bun's message quotes the part of the value it stopped at: `Unexpected identifier "…"`.
      JSON.parse(String(run.inputs.pw));
    },
    typed: async (run) => {
      await run.log(`inputs ${JSON.stringify(run.inputs)}; pw ${run.inputs.pw}`);
      await run.log(`revealed ${run.inputs.pw.reveal()}`);
      return { summary: `typed ${String(run.inputs.pw)}` };
    },
    chatty: async (run) => {
      const pw = String(run.inputs.pw);
      return { summary: `connected as ${pw.slice(0, 12)}…`, link: `https://ci.example.com/runs?pw=${pw}`, statusLabel: pw, externalRunId: pw };
    },
  },
});
