/**
 * The Redis ledger's Lua scripts. Each ledger call is one script, so it is atomic (no other client's
 * command runs in between) and one round trip. Scripts build key names from the prefix in ARGV[1]
 * (which ends in ":"), which is why the Redis ledger is for a single Redis, not Redis Cluster.
 *
 * Key layout under the prefix P (see redis.ts for the why):
 *   P:seq                  HASH   counters: work, report, dl
 *   P:w:<key>              HASH   a work item: kind body source lane state attempt owner leaseUntil acceptedAt seq finishedAt,
 *                                and for the run history action requestId startedAt status summary stack, and statusReport
 *                                (the id of its latest status report; '0' none; absent on runs ended before it was kept)
 *   P:runs                 ZSET   run keys, score seq (the run history, newest last; purged with the work)
 *   P:pending:<kind>       ZSET   claimable keys of one kind (run, change), score seq (acceptance order); a
 *                                claim of any kind merges them. (P:pending, one set for both, is an earlier
 *                                layout: claims move what is left in it to the sets of its kinds.)
 *   P:running              ZSET   claimed keys, score leaseUntil
 *   P:done                 ZSET   finished keys, score finishedAt (purge; their hashes are the dedupe memory)
 *   P:lane:<lane>          LIST   unfinished keys of a lane, head first; only the head is ever pending/running
 *   P:stat                 HASH   waiting (items behind a lane head), pendingReports
 *   P:r:<id>               HASH   a report: runId call state attempts due created settledAt error
 *   P:rq:<runId>           ZSET   undelivered report ids of a run, score id (queue order)
 *   P:rrun:<runId>         HASH   the run's outbox: due (of its head report), lease, owner, claimedTo
 *   P:rsince               ZSET   runIds with undelivered reports, score: since when they wait (the oldest held report)
 *   P:rh:<runId>           ZSET   every report id of a run, settled or not, score id (the run history; purged with the reports)
 *   P:rready               ZSET   runIds with undelivered reports, score max(due, lease): ready when <= now
 *   P:rowned               SET    runIds whose outbox has an owner (a live or expired reporter lease)
 *   P:rdelivered/rfailed   ZSET   settled report ids, score settledAt (purge, failed count)
 *   P:dl:<id>              HASH   a dead letter: key kind reason source raw rawEncoding size runId parkedAt; P:dls ZSET ids, score id (listing order)
 *   P:dlkeys               HASH   dedupe key -> id of each parked dead letter (removing the letter frees the key)
 * (the scripts that read and forget dead letters are in redis-dead-letters.ts)
 *
 * Redis checks maxmemory at a script's first write and not after, so an out-of-memory Redis refuses a
 * commit whole. Inputs are validated before a script runs, so no script fails half-way on bad input.
 */
import { WORK_KINDS } from "./ledger.ts";

/** The work kinds as a Lua list. */
const LUA_KINDS = WORK_KINDS.map((kind) => `'${kind}'`).join(", ");

/** Helpers shared by the scripts that queue reports: in ARGV, n, then n×(runId call terminal), terminal '1' for a status update. */
const prelude = `
local P = ARGV[1]
local function queue_reports(i, now)
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    local runId, call, terminal = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    local id = redis.call('HINCRBY', P .. 'seq', 'report', 1)
    redis.call('HSET', P .. 'r:' .. id, 'runId', runId, 'call', call, 'state', 'pending', 'attempts', 0, 'due', now, 'created', now)
    -- A status update: the run's history says what became of it.
    if terminal == '1' and redis.call('HGET', P .. 'w:run:' .. runId, 'kind') == 'run' then
      redis.call('HSET', P .. 'w:run:' .. runId, 'statusReport', id)
    end
    redis.call('ZADD', P .. 'rq:' .. runId, id, id)
    redis.call('ZADD', P .. 'rh:' .. runId, id, id)
    if redis.call('EXISTS', P .. 'rrun:' .. runId) == 0 then
      redis.call('HSET', P .. 'rrun:' .. runId, 'due', now, 'lease', 0, 'claimedTo', 0)
      redis.call('ZADD', P .. 'rready', now, runId)
      redis.call('ZADD', P .. 'rsince', now, runId)
    end
  end
  if n > 0 then redis.call('HINCRBY', P .. 'stat', 'pendingReports', n) end
  return i
end
local function skip_reports(i)
  return i + 1 + 3 * tonumber(ARGV[i])
end
`;

/**
 * ARGV: P, now, n, n×(key kind body source hasLane lane action requestId), d, d×(key kind reason source raw rawEncoding
 * hasRunId runId claims size reports), reports. Returns {1/0 per record, 1/0/2 per dead letter: parked,
 * duplicate, superseded}. A dead letter's own reports are queued only when it is newly parked. A non-empty
 * `claims` key is decided by the dead letter: superseded when its work hash exists, else written as done work.
 */
export const commitLua = `${prelude}
local now = ARGV[2]
local i = 3
local n = tonumber(ARGV[i])
i = i + 1
local out = {}
for r = 1, n do
  local key, kind, body, source, hasLane, lane = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local action, requestId = ARGV[i + 6], ARGV[i + 7]
  i = i + 8
  local h = P .. 'w:' .. key
  if redis.call('EXISTS', h) == 1 then
    out[r] = 0
  else
    local seq = redis.call('HINCRBY', P .. 'seq', 'work', 1)
    local state = 'pending'
    if hasLane == '1' and redis.call('RPUSH', P .. 'lane:' .. lane, key) > 1 then state = 'waiting' end
    redis.call('HSET', h, 'kind', kind, 'body', body, 'source', source, 'state', state, 'attempt', 0, 'acceptedAt', now, 'seq', seq)
    if hasLane == '1' then redis.call('HSET', h, 'lane', lane) end
    if action ~= '' then redis.call('HSET', h, 'action', action) end
    if requestId ~= '' then redis.call('HSET', h, 'requestId', requestId) end
    if kind == 'run' then redis.call('ZADD', P .. 'runs', seq, key) end
    if state == 'pending' then
      redis.call('ZADD', P .. 'pending:' .. kind, seq, key)
    else
      redis.call('HINCRBY', P .. 'stat', 'waiting', 1)
    end
    out[r] = 1
  end
end
local d = tonumber(ARGV[i])
i = i + 1
local parked = {}
for l = 1, d do
  local key, claims = ARGV[i], ARGV[i + 8]
  if claims ~= '' and redis.call('EXISTS', P .. 'w:' .. claims) == 1 then
    parked[l] = 2
    i = skip_reports(i + 10)
  elseif redis.call('HEXISTS', P .. 'dlkeys', key) == 1 then
    parked[l] = 0
    i = skip_reports(i + 10)
  else
    if claims ~= '' then
      local seq = redis.call('HINCRBY', P .. 'seq', 'work', 1)
      redis.call('HSET', P .. 'w:' .. claims, 'kind', ARGV[i + 1], 'body', '', 'source', ARGV[i + 3], 'state', 'done', 'attempt', 0, 'acceptedAt', now, 'seq', seq, 'finishedAt', now)
      redis.call('ZADD', P .. 'done', now, claims)
      if ARGV[i + 1] == 'run' then
        redis.call('HSET', P .. 'w:' .. claims, 'status', 'FAILURE', 'summary', 'parked: ' .. ARGV[i + 2], 'statusReport', '0')
        redis.call('ZADD', P .. 'runs', seq, claims)
      end
    end
    local id = redis.call('HINCRBY', P .. 'seq', 'dl', 1)
    local h = P .. 'dl:' .. id
    redis.call('HSET', h, 'key', key, 'kind', ARGV[i + 1], 'reason', ARGV[i + 2], 'source', ARGV[i + 3], 'raw', ARGV[i + 4], 'rawEncoding', ARGV[i + 5], 'size', ARGV[i + 9], 'parkedAt', now)
    if ARGV[i + 6] == '1' then redis.call('HSET', h, 'runId', ARGV[i + 7]) end
    redis.call('HSET', P .. 'dlkeys', key, id)
    redis.call('ZADD', P .. 'dls', id, id)
    parked[l] = 1
    i = queue_reports(i + 10, now)
  end
end
queue_reports(i, now)
return { out, parked }
`;

/**
 * ARGV: P, owner, limit, leaseUntil, now, takeExpired (1/0), kind ('' for any). Returns 7 fields per item:
 * key kind body source lane attempt acceptedAt.
 */
export const claimWorkLua = `
local P = ARGV[1]
local owner, limit, leaseUntil, now, takeExpired, only = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], ARGV[7]
-- Keys left in the earlier single pending set (written before an upgrade) move to their kind's set.
local legacy = redis.call('ZRANGE', P .. 'pending', 0, 255, 'WITHSCORES')
for j = 1, #legacy, 2 do
  redis.call('ZADD', P .. 'pending:' .. (redis.call('HGET', P .. 'w:' .. legacy[j], 'kind') or 'run'), legacy[j + 1], legacy[j])
  redis.call('ZREM', P .. 'pending', legacy[j])
end
local candidates = {}
if takeExpired == '1' then
  -- Expired leases are few (a crashed owner's items); with a kind, the others among them are passed over.
  local expired = redis.call('ZRANGEBYSCORE', P .. 'running', '-inf', now, 'LIMIT', 0, only == '' and limit or -1)
  for _, key in ipairs(expired) do
    local f = redis.call('HMGET', P .. 'w:' .. key, 'seq', 'kind')
    if only == '' or f[2] == only then candidates[#candidates + 1] = { tonumber(f[1]), key, f[2] } end
  end
end
for _, kind in ipairs({ ${LUA_KINDS} }) do
  if only == '' or only == kind then
    local pending = redis.call('ZRANGE', P .. 'pending:' .. kind, 0, limit - 1, 'WITHSCORES')
    for j = 1, #pending, 2 do candidates[#candidates + 1] = { tonumber(pending[j + 1]), pending[j], kind } end
  end
end
table.sort(candidates, function(a, b) return a[1] < b[1] end)
local out = {}
for j = 1, math.min(limit, #candidates) do
  local key = candidates[j][2]
  local h = P .. 'w:' .. key
  redis.call('ZREM', P .. 'pending:' .. candidates[j][3], key)
  local attempt = redis.call('HINCRBY', h, 'attempt', 1)
  redis.call('HSET', h, 'state', 'running', 'owner', owner, 'leaseUntil', leaseUntil, 'startedAt', now)
  redis.call('ZADD', P .. 'running', leaseUntil, key)
  local f = redis.call('HMGET', h, 'kind', 'body', 'source', 'lane', 'acceptedAt')
  out[#out + 1] = key
  out[#out + 1] = f[1]
  out[#out + 1] = f[2]
  out[#out + 1] = f[3]
  out[#out + 1] = f[4]
  out[#out + 1] = attempt
  out[#out + 1] = f[5]
end
return out
`;

/** ARGV: P, owner, leaseUntil, keys... */
export const renewWorkLua = `
local P = ARGV[1]
local owner, leaseUntil = ARGV[2], ARGV[3]
for j = 4, #ARGV do
  local h = P .. 'w:' .. ARGV[j]
  local f = redis.call('HMGET', h, 'state', 'owner')
  if f[1] == 'running' and f[2] == owner then
    redis.call('HSET', h, 'leaseUntil', leaseUntil)
    redis.call('ZADD', P .. 'running', leaseUntil, ARGV[j])
  end
end
return 0
`;

/**
 * ARGV: P, key, owner, now, status, summary ('' for none), stack ('' for none), reports. Returns 1 when finished, 0 when `owner`
 * does not hold the item.
 * A finished item keeps its hash (the dedupe memory) but drops its body: nothing reads it again.
 */
export const finishWorkLua = `${prelude}
local key, owner, now = ARGV[2], ARGV[3], ARGV[4]
local h = P .. 'w:' .. key
local f = redis.call('HMGET', h, 'state', 'owner', 'lane')
if f[1] ~= 'running' or f[2] ~= owner then return 0 end
redis.call('HSET', h, 'state', 'done', 'finishedAt', now)
redis.call('HDEL', h, 'owner', 'leaseUntil', 'body')
if ARGV[5] ~= '' then redis.call('HSET', h, 'status', ARGV[5], 'summary', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', h, 'stack', ARGV[7]) end
-- '0' until a status report is queued (one queued while the run ran, for a node run, stays).
redis.call('HSETNX', h, 'statusReport', '0')
redis.call('ZREM', P .. 'running', key)
redis.call('ZADD', P .. 'done', now, key)
if f[3] then
  local lane = P .. 'lane:' .. f[3]
  redis.call('LREM', lane, 1, key)
  local nxt = redis.call('LINDEX', lane, 0)
  if nxt and redis.call('HGET', P .. 'w:' .. nxt, 'state') == 'waiting' then
    local g = redis.call('HMGET', P .. 'w:' .. nxt, 'seq', 'kind')
    redis.call('HSET', P .. 'w:' .. nxt, 'state', 'pending')
    redis.call('ZADD', P .. 'pending:' .. g[2], g[1], nxt)
    redis.call('HINCRBY', P .. 'stat', 'waiting', -1)
  end
end
queue_reports(8, now)
return 1
`;

/** ARGV: P, key, owner. */
export const releaseWorkLua = `
local P = ARGV[1]
local key, owner = ARGV[2], ARGV[3]
local h = P .. 'w:' .. key
local f = redis.call('HMGET', h, 'state', 'owner', 'seq', 'kind')
if f[1] ~= 'running' or f[2] ~= owner then return 0 end
redis.call('HSET', h, 'state', 'pending')
redis.call('HDEL', h, 'owner', 'leaseUntil')
redis.call('HINCRBY', h, 'attempt', -1)
redis.call('ZREM', P .. 'running', key)
redis.call('ZADD', P .. 'pending:' .. f[4], f[3], key)
return 1
`;

/** ARGV: P, now, reports. */
export const appendReportsLua = `${prelude}
queue_reports(3, ARGV[2])
return 0
`;

/** ARGV: P, owner, limit, limitRuns, leaseUntil, now. Returns 4 fields per report: id runId call attempts. */
export const claimReportsLua = `
local P = ARGV[1]
local owner, limit, runs, leaseUntil, now = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local out = {}
local count = 0
for _, runId in ipairs(redis.call('ZRANGEBYSCORE', P .. 'rready', '-inf', now, 'LIMIT', 0, runs)) do
  if count >= limit then break end
  local last = 0
  for _, id in ipairs(redis.call('ZRANGE', P .. 'rq:' .. runId, 0, limit - count - 1)) do
    local f = redis.call('HMGET', P .. 'r:' .. id, 'call', 'attempts', 'due')
    if tonumber(f[3]) > now then break end
    out[#out + 1] = id
    out[#out + 1] = runId
    out[#out + 1] = f[1]
    out[#out + 1] = f[2]
    count = count + 1
    last = id
  end
  local rr = P .. 'rrun:' .. runId
  redis.call('HSET', rr, 'lease', leaseUntil, 'owner', owner, 'claimedTo', last)
  redis.call('SADD', P .. 'rowned', runId)
  redis.call('ZADD', P .. 'rready', math.max(tonumber(redis.call('HGET', rr, 'due')), leaseUntil), runId)
end
return out
`;

/**
 * ARGV: P, id, outcome (delivered|failed|retry), now, at, error. Only a pending report is settled.
 * The run's lease ends on a retry (the rest waits behind it) or when the last report handed out is settled.
 */
export const settleReportLua = `
local P = ARGV[1]
local id, outcome, now = ARGV[2], ARGV[3], ARGV[4]
local r = P .. 'r:' .. id
local f = redis.call('HMGET', r, 'state', 'runId')
if f[1] ~= 'pending' then return 0 end
local runId = f[2]
local rr, rq = P .. 'rrun:' .. runId, P .. 'rq:' .. runId
local endLease = true
redis.call('HINCRBY', r, 'attempts', 1)
if outcome == 'retry' then
  local at = tonumber(ARGV[5])
  redis.call('HSET', r, 'due', ARGV[5], 'error', ARGV[6])
  for _, later in ipairs(redis.call('ZRANGEBYSCORE', rq, '(' .. id, '+inf')) do
    local lr = P .. 'r:' .. later
    if tonumber(redis.call('HGET', lr, 'due')) < at then redis.call('HSET', lr, 'due', ARGV[5]) end
  end
else
  redis.call('HSET', r, 'state', outcome, 'settledAt', now)
  if outcome == 'failed' then redis.call('HSET', r, 'error', ARGV[6]) end
  redis.call('ZREM', rq, id)
  redis.call('ZADD', P .. 'r' .. outcome, now, id)
  redis.call('HINCRBY', P .. 'stat', 'pendingReports', -1)
  endLease = tonumber(id) >= tonumber(redis.call('HGET', rr, 'claimedTo') or '0')
end
if endLease then
  redis.call('HSET', rr, 'lease', 0, 'claimedTo', 0)
  redis.call('HDEL', rr, 'owner')
  redis.call('SREM', P .. 'rowned', runId)
end
local head = redis.call('ZRANGE', rq, 0, 0)[1]
if not head then
  redis.call('DEL', rr)
  redis.call('SREM', P .. 'rowned', runId)
  redis.call('ZREM', P .. 'rready', runId)
  redis.call('ZREM', P .. 'rsince', runId)
else
  local due = redis.call('HGET', P .. 'r:' .. head, 'due')
  redis.call('HSET', rr, 'due', due)
  redis.call('ZADD', P .. 'rready', math.max(tonumber(due), tonumber(redis.call('HGET', rr, 'lease'))), runId)
end
return 1
`;

/**
 * ARGV: P, n, n keys, run ids. Returns {keys of unfinished work, run ids with undelivered reports}, each
 * in the order given.
 */
export const unsettledLua = `
local P = ARGV[1]
local n = tonumber(ARGV[2])
local keys, runs = {}, {}
for j = 3, 2 + n do
  local state = redis.call('HGET', P .. 'w:' .. ARGV[j], 'state')
  if state and state ~= 'done' then keys[#keys + 1] = ARGV[j] end
end
for j = 3 + n, #ARGV do
  if redis.call('EXISTS', P .. 'rrun:' .. ARGV[j]) == 1 then runs[#runs + 1] = ARGV[j] end
end
return { keys, runs }
`;
