import { afterAll, describe, expect, test } from "bun:test";
import { createJqEngine, JqLimitError } from "./jq.ts";
import { evaluateFields, gitlabTriggerTokenVar, pickJqEnv } from "./jq-program.ts";

/**
 * Runs under `bun test` and, unchanged, under `deno test` (src/targets/webhook/jq-deno.test.ts starts it
 * there), so the jq host is proven on both runtimes.
 */
const jq = createJqEngine({ limits: { timeoutMs: 1_500 } });
afterAll(() => jq.close());

const gitlabMsg = {
  context: { runId: "r_Q2mGf9ZYkFRnZJjB" },
  payload: {
    action: { invocationMethod: { type: "GITLAB", agent: true, groupName: "acme/platform", projectName: "svc", defaultRef: "develop", omitUserInputs: false } },
    properties: { ref: "feature/x", cpu: 2, dryRun: false, tags: ["a", "b"], meta: { k: "v" }, note: null },
  },
};

const first = async (expression: string, input: unknown = gitlabMsg, env: Record<string, string> = {}) =>
  (await evaluateFields(jq, [expression], input, env)).values[0];

describe("jq with Port's agent semantics", () => {
  test("the default GitLab mapping's expressions give what jq gives Port's agent", async () => {
    const env = { GITLAB_URL: "https://gitlab.example.com/", [gitlabTriggerTokenVar("acme/platform", "svc")]: "tok123" };
    const { values, problems } = await evaluateFields(
      jq,
      [
        '.payload.action.invocationMethod.type == "GITLAB"',
        '(env.GITLAB_URL // "https://gitlab.com/") as $baseUrl | (.payload.action.invocationMethod.groupName + "/" +.payload.action.invocationMethod.projectName) | @uri as $path | $baseUrl + "api/v4/projects/" + $path + "/trigger/pipeline"',
        '.payload.properties.ref // .payload.action.invocationMethod.defaultRef // "main"',
        '.payload.action.invocationMethod.groupName as $gitlab_group | .payload.action.invocationMethod.projectName as $gitlab_project | env[($gitlab_group | gsub("/"; "_")) + "_" + $gitlab_project]',
        ".payload.action.invocationMethod as $invocationMethod | .payload.properties | to_entries | map({(.key): (.value | tostring)}) | add | if $invocationMethod.omitUserInputs then {} else . end",
      ],
      gitlabMsg,
      env,
    );
    expect(problems).toEqual([]);
    expect(values).toEqual([
      true,
      "https://gitlab.example.com/api/v4/projects/acme%2Fplatform%2Fsvc/trigger/pipeline",
      "feature/x",
      "tok123",
      { ref: "feature/x", cpu: "2", dryRun: "false", tags: '["a","b"]', meta: '{"k":"v"}', note: "null" },
    ]);
  });

  test("an error anywhere, no output, or a compile error give null; the first output otherwise", async () => {
    expect(await first(".context.runId.x")).toBeNull();
    expect(await first(".context.runId.x?")).toBeNull();
    expect(await first('.a, error("boom")', { a: 1 })).toBeNull();
    expect(await first("empty")).toBeNull();
    expect(await first(".context.runId | startswith('r_')")).toBeNull();
    expect(await first(".payload.properties.tags[]")).toBe("a");
    expect(await first('.payload.properties.dryRun // "d"')).toBe("d");
    expect(await first('"run \\(.context.runId)" # a comment that ends in a backslash \\')).toBe("run r_Q2mGf9ZYkFRnZJjB");
  });

  test("one field that does not compile (or halts) costs only its own value, and says why", async () => {
    const { values, problems } = await evaluateFields(jq, [".context.runId", ".a.", "halt", ".payload.properties.cpu"], gitlabMsg, {});
    expect(values).toEqual(["r_Q2mGf9ZYkFRnZJjB", null, null, 2]);
    expect(problems.map((p) => p.index)).toEqual([1, 2]);
    expect(problems[0]?.message).toMatch(/syntax error|compile error/);
  });

  test("env and $ENV show only the variables given, never the process environment", async () => {
    const allowed = pickJqEnv({ GITLAB_URL: "https://g/", SECRET: "s3cret", acme_svc: "t" }, ["GITLAB_URL", "acme_svc", "MISSING"]);
    expect(allowed).toEqual({ GITLAB_URL: "https://g/", acme_svc: "t" });
    expect(await first("[env | keys, ($ENV | keys)]", null, allowed)).toEqual([
      ["GITLAB_URL", "acme_svc"],
      ["GITLAB_URL", "acme_svc"],
    ]);
    expect(await first("env.HOME // env.PATH // env.SECRET", null, allowed)).toBeNull();
  });
});

describe("jq's bounds", () => {
  test("a program that never ends is stopped at the time limit; the next evaluation gets a fresh host", async () => {
    const before = jq.hostsStarted;
    const startedMs = Date.now();
    const error = await jq.run(null, "last(range(infinite))").catch((e: unknown) => e);
    const tookMs = Date.now() - startedMs;
    expect(error).toBeInstanceOf(JqLimitError);
    expect((error as JqLimitError).limit).toBe("time");
    expect(tookMs).toBeGreaterThanOrEqual(1_400);
    expect(tookMs).toBeLessThan(5_000);
    expect(await first(".n", { n: 7 })).toBe(7);
    expect(jq.hostsStarted).toBe(before + 1);
  }, 20_000);

  test("input and output over their caps are refused, and the engine goes on", async () => {
    const small = createJqEngine({ limits: { maxInputBytes: 1_000, maxOutputBytes: 2_000 } });
    try {
      const tooBig = await small.run({ blob: "x".repeat(2_000) }, ".").catch((e: unknown) => e);
      expect(tooBig).toMatchObject({ name: "JqLimitError", limit: "input" });
      const loud = await small.run(null, "[range(10000)]").catch((e: unknown) => e);
      expect(loud).toMatchObject({ name: "JqLimitError", limit: "output" });
      expect(await small.run({ a: [1, 2] }, ".a | add")).toEqual({ stdout: "3", stderr: "", exitCode: 0 });
    } finally {
      await small.close();
    }
  }, 20_000);

  test("evaluations queue in order on one host", async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => jq.run({ i }, ".i * 2")));
    expect(results.map((r) => Number(r.stdout))).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
  });

  test("beyond maxQueued, evaluations wait their turn instead of failing (a burst of forwarded runs)", async () => {
    const narrow = createJqEngine({ limits: { maxQueued: 3 } });
    try {
      const results = await Promise.all(Array.from({ length: 25 }, (_, i) => narrow.run({ i }, ".i * 2")));
      expect(results.map((r) => Number(r.stdout))).toEqual(Array.from({ length: 25 }, (_, i) => i * 2));
      expect(narrow.hostsStarted).toBe(1);
    } finally {
      await narrow.close();
    }
  }, 20_000);

  test("evaluations still waiting for room are refused when the engine closes", async () => {
    const narrow = createJqEngine({ limits: { maxQueued: 1 } });
    const runs = Array.from({ length: 5 }, (_, i) => narrow.run({ i }, ".i").catch((e: unknown) => e));
    await narrow.close();
    for (const outcome of await Promise.all(runs)) expect(outcome).toMatchObject({ name: "JqHostError" });
  }, 20_000);
});
