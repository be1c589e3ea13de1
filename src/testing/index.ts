/**
 * `portside/testing`: run a handler the way portside runs it, from a unit test (`bun test`, `deno test`).
 *
 * ```ts
 * import { invoke } from "portside/testing";
 * import handlers from "./handlers.ts";
 *
 * const result = await invoke(handlers, "deploy", { inputs: { version: "1.2.3" }, entity: "checkout" });
 * expect(result.status).toBe("SUCCESS");
 * ```
 */
export {
  type EmulatedRunView,
  type InvokableAction,
  type InvokedEntity,
  InvokeError,
  type InvokeInputs,
  type InvokeOptions,
  type InvokeResult,
  type InvokeUser,
  invoke,
} from "./invoke.ts";
