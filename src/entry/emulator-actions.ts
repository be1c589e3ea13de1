import type { PortEmulatorState } from "../emulator/port-emulator.ts";
import { declareActions } from "../emulator/port-emulator-definitions.ts";
import { describeError } from "../shared/errors.ts";

/**
 * The action definitions the local Port emulator serves when it stands in for Port (open mode, and
 * `actions pull --open`): the file PORT_EMULATOR_ACTIONS names, else the example actions
 * (src/examples/port-actions.json: the actions of the example handlers and the demos).
 */
export const EXAMPLE_ACTIONS_PATH = new URL("../examples/port-actions.json", import.meta.url).pathname;

/** Declares the file's actions in the emulator; resolves with how many, or rejects with one line naming the file, the action and the field. */
export async function loadEmulatorActions(state: PortEmulatorState, path: string, readText: (path: string) => Promise<string>): Promise<number> {
  let json: unknown;
  try {
    json = JSON.parse(await readText(path));
  } catch (error) {
    throw new Error(`${path} is not a JSON file of action definitions (${describeError(error)})`);
  }
  try {
    return declareActions(state, json).length;
  } catch (error) {
    throw new Error(`${path}: ${describeError(error)}`);
  }
}
