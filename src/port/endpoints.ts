/**
 * The endpoints of Port's API that portside calls, by name: the client counts and reports its calls by
 * these names, and the Port emulator records the calls it answers by the same ones, so tests compare like
 * with like. One list; a new endpoint is added here.
 */
export const PORT_ENDPOINTS = [
  "token",
  "patchRun",
  "postLog",
  "getRun",
  "patchNodeRun",
  "postNodeLog",
  "getNodeRun",
  "upsertEntity",
  "updateEntity",
  "deleteEntity",
  "upsertEntities",
  "kafkaCredentials",
  "putRunResponse",
  "claimRuns",
  "ackRuns",
  "claimNodeRuns",
  "ackNodeRun",
  "patchOrganization",
  "listActions",
] as const;

export type PortEndpoint = (typeof PORT_ENDPOINTS)[number];
