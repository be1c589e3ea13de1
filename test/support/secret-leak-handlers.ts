import { defineHandlers } from "../../src/targets/define.ts";

/**
 * Careless handlers for the redaction test: each puts the clear value of the secret input `pw` (or a piece
 * of it) where portside sends text on — a log line, an entity's title and properties, a thrown message,
 * Bun's own `JSON.parse` error, the summary and link of a result.
 */
export default defineHandlers({
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
    chatty: async (run) => {
      const pw = String(run.inputs.pw);
      return { summary: `connected as ${pw.slice(0, 12)}…`, link: `https://ci.example.com/runs?pw=${pw}`, statusLabel: pw, externalRunId: pw };
    },
  },
});
