import type { PortCall } from "../port/calls.ts";
import { headAndTail, pageRuns } from "./history.ts";
import { type ReportRecord, type RunHistory, type RunPage, type RunQuery, type RunRecord, type RunState, runKey, type StatusReport } from "./ledger.ts";

/** The run history of the Redis ledger: runs newest first from P:runs, a run's reports from P:rh:<runId>. */

const RUN_FIELDS = ["kind", "action", "source", "requestId", "state", "attempt", "acceptedAt", "startedAt", "finishedAt", "status", "summary", "seq"];
const REPORT_FIELDS = ["call", "state", "attempts", "created", "settledAt", "error"];
/** What is read of a run's status report: its state, attempts and Port's last refusal. */
const STATUS_REPORT_FIELDS = 3;
const fields = (list: string[]) => list.map((f) => `'${f}'`).join(", ");

/**
 * Lua: the state, attempts and error of the run's latest status report, appended to \`out\` (false for each
 * when there is none). The work hash names it (\`statusReport\`); a run ended before it did is looked up
 * among its last reports instead (a status update is an \`update\` call with a status).
 */
const statusReportLua = `
local function status_report(P, key, out)
  local h = P .. 'w:' .. key
  local f = redis.call('HMGET', h, 'statusReport', 'state')
  local id = f[1]
  if not id and f[2] == 'done' then
    local rh = P .. 'rh:' .. string.sub(key, ${runKey("").length + 1})
    for _, candidate in ipairs(redis.call('ZREVRANGE', rh, 0, 19)) do
      local call = redis.call('HGET', P .. 'r:' .. candidate, 'call')
      if call and string.find(call, '"kind":"update"', 1, true) then
        local ok, decoded = pcall(cjson.decode, call)
        if ok and type(decoded.patch) == 'table' and decoded.patch.status ~= nil then id = candidate break end
      end
    end
  end
  local r = { false, false, false }
  if id and id ~= '0' then r = redis.call('HMGET', P .. 'r:' .. id, 'state', 'attempts', 'error') end
  for k = 1, ${STATUS_REPORT_FIELDS} do out[#out + 1] = r[k] end
end
`;

/**
 * ARGV: P, before (exclusive; '+inf' for the newest), n. Returns the key, the run fields and the status report
 * fields of each run, newest first.
 */
const runsBeforeLua = `${statusReportLua}
local P = ARGV[1]
local out = {}
for _, key in ipairs(redis.call('ZREVRANGEBYSCORE', P .. 'runs', ARGV[2], '-inf', 'LIMIT', 0, tonumber(ARGV[3]))) do
  out[#out + 1] = key
  local f = redis.call('HMGET', P .. 'w:' .. key, ${fields(RUN_FIELDS)})
  for k = 1, ${RUN_FIELDS.length} do out[#out + 1] = f[k] end
  status_report(P, key, out)
end
return out
`;

/** ARGV: P, runId. How many reports the run has (settled or not). */
const reportCountLua = "return redis.call('ZCARD', ARGV[1] .. 'rh:' .. ARGV[2])";

/**
 * ARGV: P, key, runId, head, tail. Returns {run fields, the status report's and the stack, report fields of the first \`head\` and the last
 * \`tail\` reports}, or an empty list when there is no such run.
 */
const runLua = `${statusReportLua}
local P = ARGV[1]
local f = redis.call('HMGET', P .. 'w:' .. ARGV[2], ${fields(RUN_FIELDS)})
if f[1] ~= 'run' then return {} end
status_report(P, ARGV[2], f)
f[#f + 1] = redis.call('HGET', P .. 'w:' .. ARGV[2], 'stack')
local rh = P .. 'rh:' .. ARGV[3]
local head, tail = tonumber(ARGV[4]), tonumber(ARGV[5])
local ids = head > 0 and redis.call('ZRANGE', rh, 0, head - 1) or {}
if tail > 0 then for _, id in ipairs(redis.call('ZRANGE', rh, -tail, -1)) do ids[#ids + 1] = id end end
local reports = {}
for _, id in ipairs(ids) do
  local r = redis.call('HMGET', P .. 'r:' .. id, ${fields(REPORT_FIELDS)})
  for k = 1, ${REPORT_FIELDS.length} do reports[#reports + 1] = r[k] end
end
return { f, reports }
`;

type Call = (script: string, ...args: Array<string | number>) => Promise<unknown>;
type Field = string | null;

export function redisHistory(call: Call) {
  return {
    listRuns(query: RunQuery): Promise<RunPage> {
      return pageRuns(query, async (before, n) => {
        const flat = (await call(runsBeforeLua, before === undefined ? "+inf" : `(${before}`, n)) as Field[];
        const out: RunRecord[] = [];
        const width = RUN_FIELDS.length + STATUS_REPORT_FIELDS + 1;
        for (let i = 0; i < flat.length; i += width) {
          const run = runRecord(String(flat[i]), flat.slice(i + 1, i + width));
          if (run) out.push(run);
        }
        return out;
      });
    },

    async getRun(runId: string, opts: { reportLimit?: number } = {}): Promise<RunHistory | undefined> {
      // The count decides the halves (a report queued in between only moves the tail by one).
      const { head, tail, notShown } = headAndTail(Number(await call(reportCountLua, runId)), opts.reportLimit);
      const answer = (await call(runLua, runKey(runId), runId, head, tail)) as [Field[], Field[]] | [];
      if (answer.length === 0) return undefined;
      const [f, flat] = answer;
      const run = runRecord(runKey(runId), f);
      if (!run) return undefined;
      const reports: ReportRecord[] = [];
      for (let i = 0; i < flat.length; i += REPORT_FIELDS.length) reports.push(reportRecord(flat.slice(i, i + REPORT_FIELDS.length)));
      return { ...run, stack: f[RUN_FIELDS.length + STATUS_REPORT_FIELDS] ?? null, reports, reportsNotShown: notShown };
    },
  };
}

const STATE_OF: Record<string, RunState> = { pending: "pending", waiting: "pending", running: "running", done: "done" };
const num = (f: Field | undefined): number | null => (f === null || f === undefined ? null : Number(f));

/** The status report's fields (state, attempts, error) as the run history holds them. */
function statusReport(f: Field[]): StatusReport | null {
  const [state, attempts, error] = f;
  if (state === null || state === undefined) return null;
  return { state: state === "delivered" || state === "failed" ? state : "pending", attempts: Number(attempts ?? 0), error: error ?? null };
}

/** A run from its fields (RUN_FIELDS, then the status report's, when read). */
function runRecord(key: string, f: Field[]): RunRecord | undefined {
  const [kind, action, source, requestId, state, attempt, acceptedAt, startedAt, finishedAt, status, summary, seq] = f;
  if (kind !== "run") return undefined;
  return {
    runId: key.slice(runKey("").length),
    seq: Number(seq),
    action: action ?? null,
    source: source ?? "",
    requestId: requestId ?? null,
    state: STATE_OF[state ?? ""] ?? "pending",
    attempt: Number(attempt ?? 0),
    acceptedAt: Number(acceptedAt),
    startedAt: num(startedAt),
    finishedAt: state === "done" ? num(finishedAt) : null,
    status: status ?? null,
    summary: summary ?? null,
    statusReport: statusReport(f.slice(RUN_FIELDS.length, RUN_FIELDS.length + STATUS_REPORT_FIELDS)),
  };
}

function reportRecord(f: Field[]): ReportRecord {
  const [callJson, state, attempts, created, settledAt, error] = f;
  return {
    call: JSON.parse(String(callJson)) as PortCall,
    state: state === "delivered" || state === "failed" ? state : "pending",
    attempts: Number(attempts ?? 0),
    createdAt: Number(created),
    settledAt: state === "delivered" || state === "failed" ? num(settledAt) : null,
    error: error ?? null,
  };
}
