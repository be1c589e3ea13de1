import { describe, expect, test } from "bun:test";
import { invoke } from "portside/testing";
import type { AnyHandlerModule } from "../targets/registry.ts";
import examples from "./handlers.ts";

/**
 * The example handlers, run through the test kit as a team would test its own: each handler once, through
 * portside's pipeline, against an in-process Port emulator. Written against what the handlers do, not their
 * input types (the module is taken as any handler module), so they hold whether the inputs are typed or not.
 */
const handlers: AnyHandlerModule = examples;

describe("example handlers", () => {
  test("deploy: SUCCESS, its two log lines, the deployment entity related to the service, the summary and the link", async () => {
    const result = await invoke(handlers, "deploy", {
      inputs: { version: "2.14.0", environment: "production" },
      entity: "checkout",
      user: "lee@example.com",
      runId: "r_deploy_example",
    });
    expect(result).toMatchObject({
      status: "SUCCESS",
      summary: "Deployed checkout 2.14.0 to production",
      link: "https://ci.example.com/deployments/r_deploy_example",
      logs: ["Deploying checkout 2.14.0 to production", "Deployment of checkout 2.14.0 finished"],
    });
    expect(result.entities).toEqual([
      {
        blueprint: "deployment",
        identifier: "checkout-2-14-0-production",
        title: "checkout 2.14.0 (production)",
        properties: { version: "2.14.0", environment: "production", triggeredBy: "lee@example.com" },
        relations: { microservice: "checkout" },
      },
    ]);
  });

  test("deploy without an environment deploys to staging", async () => {
    const result = await invoke(handlers, "deploy", { inputs: { version: "1.0.0" }, entity: "cart" });
    expect(result).toMatchObject({ status: "SUCCESS", summary: "Deployed cart 1.0.0 to staging" });
    expect(result.entities.map((e) => e.identifier)).toEqual(["cart-1-0-0-staging"]);
  });

  test("create_vm without its required inputs: FAILURE naming them (checked against the definition before the handler starts), nothing written", async () => {
    const result = await invoke(handlers, "create_vm", { inputs: {} });
    expect(result).toMatchObject({
      status: "FAILURE",
      summary:
        'The inputs of "create_vm" do not match its definition in Port (the handler module\'s actions): inputs.cpu: required, but missing; inputs.memory: required, but missing; inputs.region: required, but missing',
      logs: [],
      entities: [],
    });
  });

  test("create_vm with cpu, memory and region: the vm entity, its log line and the external run id", async () => {
    const result = await invoke(handlers, "create_vm", { inputs: { cpu: 4, memory: 16, region: "eu-west-1" }, runId: "r_VM42" });
    expect(result).toMatchObject({
      status: "SUCCESS",
      summary: "Created vm-vm42",
      externalRunId: "vm-vm42",
      logs: ["Creating a 4 vCPU / 16 GiB VM in eu-west-1"],
    });
    expect(result.entities).toEqual([
      {
        blueprint: "vm",
        identifier: "vm-vm42",
        title: "vm-vm42",
        properties: { cpu_cores: 4, memory_size: 16, region: "eu-west-1", free_storage: 10 },
        relations: {},
      },
    ]);
  });

  test("check_health: SUCCESS saying the service is healthy", async () => {
    const result = await invoke(handlers, "check_health", { entity: "checkout" });
    expect(result).toMatchObject({ status: "SUCCESS", summary: "checkout is healthy", logs: ["Checking checkout"], entities: [] });
  });
});
