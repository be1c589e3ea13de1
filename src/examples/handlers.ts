import { defineHandlers } from "../targets/define.ts";
import { actions } from "./port-actions.ts";

/**
 * Example handlers that mirror Port's guides. `npm run demo` runs them; copy this file to start your own
 * and point HANDLERS at it. Their inputs are typed by `actions`, the module `npm run -s cli -- actions pull`
 * wrote from the actions' definitions (src/examples/port-actions.json here; yours come from Port), and a
 * run's inputs are checked against them before its handler starts.
 */
export default defineHandlers({
  actions,
  runs: {
    /** Day-2 action on a microservice: "deploy a version", reporting a Deployment entity back to Port. */
    deploy: async (run) => {
      const service = run.entity?.identifier ?? "unknown-service";
      const { version } = run.inputs;
      const environment = run.inputs.environment ?? "staging";
      await run.log(`Deploying ${service} ${version} to ${environment}`);
      // Real code would call your CD system here and wait for it.
      await run.upsertEntity("deployment", {
        identifier: `${service}-${version}-${environment}`.toLowerCase().replace(/[^a-z0-9-]+/g, "-"),
        title: `${service} ${version} (${environment})`,
        properties: { version, environment, triggeredBy: run.user.email ?? run.user.id },
        relations: { microservice: service },
      });
      await run.log(`Deployment of ${service} ${version} finished`);
      return { summary: `Deployed ${service} ${version} to ${environment}`, link: `https://ci.example.com/deployments/${run.id}` };
    },

    /**
     * A quick check Port calls synchronously (a WEBHOOK action with "Request type: sync"): with `sync: true`,
     * the webhook's answer carries the result, which is how Port learns the run's status.
     */
    check_health: {
      sync: true,
      handle: async (run) => {
        const service = run.entity?.identifier ?? "unknown-service";
        await run.log(`Checking ${service}`);
        return { summary: `${service} is healthy` };
      },
    },

    /** CREATE action: "create a VM" with cpu/memory/region inputs, reporting the new vm entity. */
    create_vm: {
      timeoutMs: 5 * 60_000,
      handle: async (run) => {
        const { cpu, memory, region } = run.inputs;
        const identifier = `vm-${run.id.replace(/^r_/, "").toLowerCase()}`;
        await run.log(`Creating a ${cpu} vCPU / ${memory} GiB VM in ${region}`);
        await run.upsertEntity("vm", { identifier, title: identifier, properties: { cpu_cores: cpu, memory_size: memory, region, free_storage: 10 } });
        return { summary: `Created ${identifier}`, externalRunId: identifier };
      },
    },
  },

  changes: [
    {
      /** Change-log listener: warn when a VM runs low on storage (Port's "basic change listener" guide). */
      match: { blueprint: "vm", action: "UPDATE", resourceType: "entity" },
      handle: async (change) => {
        const before = (change.before?.properties ?? {}) as { free_storage?: number };
        const after = (change.after?.properties ?? {}) as { free_storage?: number };
        if (typeof after.free_storage === "number" && after.free_storage < 1 && (before.free_storage ?? Infinity) >= 1) {
          console.log(JSON.stringify({ event: "example.vm_low_storage", vm: change.identifier, free_storage: after.free_storage }));
        }
      },
    },
  ],
});
