import type { PortEntity, RunOperation } from "../messages/views.ts";

/**
 * A run message in Port's legacy Kafka shape (what Port publishes on `ORG_ID.runs` for a KAFKA action), as
 * the test kit (`invoke`) and the repository's tests feed them to the pipeline.
 */
export interface RunMessageOptions {
  runId: string;
  action: string;
  orgId: string;
  /** The entity the action ran on: its identifier, or the entity as Port sends it. None for a CREATE. */
  entity?: string | PortEntity | null;
  /** The action's blueprint (`context.blueprint`); an entity without one is given it. */
  blueprint?: string | null;
  inputs?: Record<string, unknown>;
  /** Names of the inputs Port encrypted (`payload.censoredProperties`); their values must be the encrypted text. */
  secretInputs?: string[];
  /** Inputs' types as the action defines them (`payload.action.userInputs`): a secret `object` input is parsed once decrypted. */
  inputTypes?: Record<string, string>;
  /** Default: DAY-2 with an entity, else CREATE. */
  operation?: RunOperation;
  user?: { id?: string | null; email?: string | null; firstName?: string | null; lastName?: string | null };
  origin?: string;
  /** ISO 8601. */
  triggeredAt?: string;
}

export function legacyRunMessage(o: RunMessageOptions) {
  const blueprint = o.blueprint ?? null;
  // Port names the entity's blueprint when it has one (`blueprint` is optional, never null, in its messages).
  const withBlueprint = blueprint === null ? {} : { blueprint };
  const entity: PortEntity | null =
    o.entity === undefined || o.entity === null
      ? null
      : typeof o.entity === "string"
        ? { identifier: o.entity, ...withBlueprint, properties: {} }
        : { ...withBlueprint, ...o.entity };
  const user = o.user ?? {};
  return {
    action: o.action,
    resourceType: "run",
    status: "TRIGGERED",
    trigger: {
      by: { orgId: o.orgId, userId: user.id ?? null, user: { email: user.email, firstName: user.firstName, lastName: user.lastName, id: user.id } },
      origin: o.origin ?? "UI",
      at: o.triggeredAt ?? new Date().toISOString(),
    },
    context: { entity: entity?.identifier ?? null, blueprint, runId: o.runId },
    payload: {
      entity,
      action: {
        invocationMethod: { type: "KAFKA" },
        trigger: o.operation ?? (entity ? "DAY-2" : "CREATE"),
        ...(o.inputTypes && Object.keys(o.inputTypes).length > 0
          ? { userInputs: { properties: Object.fromEntries(Object.entries(o.inputTypes).map(([name, type]) => [name, { type }])) } }
          : {}),
      },
      properties: o.inputs ?? {},
      ...(o.secretInputs?.length ? { censoredProperties: o.secretInputs } : {}),
    },
  };
}

/** A fresh run id of the kind Port issues (`r_` and 16 hex digits), for runs made up locally (`portside trigger`, the console). */
export function newRunId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `r_${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
