/**
 * The Redis ledger's Lua scripts. Each ledger call is one script, so it is atomic (no other client's
 * command runs in between) and one round trip. Scripts build key names from the prefix in ARGV[1]
 * (which ends in ":"), which is why the Redis ledger is for a single Redis, not Redis Cluster.
 *
 * Key layout under the prefix P (see redis.ts for the why):
 *   P:seq                  HASH   counters: work, report, dl
 *   P:w:<key>              HASH   a work item: kind body source lane state attempt owner leaseUntil acceptedAt seq finishedAt
 *   P:pending              ZSET   claimable keys, score seq (acceptance order)
 *   P:running              ZSET   claimed keys, score leaseUntil
 *   P:done                 ZSET   finished keys, score finishedAt (purge; their hashes are the dedupe memory)
 *   P:lane:<lane>          LIST   unfinished keys of a lane, head first; only the head is ever pending/running
 *   P:stat                 HASH   waiting (items behind a lane head), pendingReports
 *   P:r:<id>               HASH   a report: runId call state attempts due created settledAt error
 *   P:rq:<runId>           ZSET   undelivered report ids of a run, score id (queue order)
 *   P:rrun:<runId>         HASH   the run's outbox: due (of its head report), lease, owner, claimedTo
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

/** Helpers shared by the scripts that queue reports. */
const prelude = `
local P = ARGV[1]
local function queue_reports(i, now)
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    local runId, call = ARGV[i], ARGV[i + 1]
    i = i + 2
    local id = redis.call('HINCRBY', P .. 'seq', 'report', 1)
    redis.call('HSET', P .. 'r:' .. id, 'runId', runId, 'call', call, 'state', 'pending', 'attempts', 0, 'due', now, 'created', now)
    redis.call('ZADD', P .. 'rq:' .. runId, id, id)
    if redis.call('EXISTS', P .. 'rrun:' .. runId) == 0 then
      redis.call('HSET', P .. 'rrun:' .. runId, 'due', now, 'lease', 0, 'claimedTo', 0)
      redis.call('ZADD', P .. 'rready', now, runId)
    end
  end
  if n > 0 then redis.call('HINCRBY', P .. 'stat', 'pendingReports', n) end
  return i
end
local function skip_reports(i)
  return i + 1 + 2 * tonumber(ARGV[i])
end
`;

/**
 * ARGV: P, now, n, n×(key kind body source hasLane lane), d, d×(key kind reason source raw rawEncoding
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
  i = i + 6
  local h = P .. 'w:' .. key
  if redis.call('EXISTS', h) == 1 then
    out[r] = 0
  else
    local seq = redis.call('HINCRBY', P .. 'seq', 'work', 1)
    local state = 'pending'
    if hasLane == '1' and redis.call('RPUSH', P .. 'lane:' .. lane, key) > 1 then state = 'waiting' end
    redis.call('HSET', h, 'kind', kind, 'body', body, 'source', source, 'state', state, 'attempt', 0, 'acceptedAt', now, 'seq', seq)
    if hasLane == '1' then redis.call('HSET', h, 'lane', lane) end
    if state == 'pending' then
      redis.call('ZADD', P .. 'pending', seq, key)
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

/** ARGV: P, owner, limit, leaseUntil, now, takeExpired (1/0). Returns 7 fields per item: key kind body source lane attempt acceptedAt. */
export const claimWorkLua = `
local P = ARGV[1]
local owner, limit, leaseUntil, now, takeExpired = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local candidates = {}
if takeExpired == '1' then
  for _, key in ipairs(redis.call('ZRANGEBYSCORE', P .. 'running', '-inf', now, 'LIMIT', 0, limit)) do
    candidates[#candidates + 1] = { tonumber(redis.call('HGET', P .. 'w:' .. key, 'seq')), key }
  end
end
local pending = redis.call('ZRANGE', P .. 'pending', 0, limit - 1, 'WITHSCORES')
for j = 1, #pending, 2 do candidates[#candidates + 1] = { tonumber(pending[j + 1]), pending[j] } end
table.sort(candidates, function(a, b) return a[1] < b[1] end)
local out = {}
for j = 1, math.min(limit, #candidates) do
  local key = candidates[j][2]
  local h = P .. 'w:' .. key
  redis.call('ZREM', P .. 'pending', key)
  local attempt = redis.call('HINCRBY', h, 'attempt', 1)
  redis.call('HSET', h, 'state', 'running', 'owner', owner, 'leaseUntil', leaseUntil)
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
 * ARGV: P, key, owner, now, reports. Returns 1 when finished, 0 when `owner` does not hold the item.
 * A finished item keeps its hash (the dedupe memory) but drops its body: nothing reads it again.
 */
export const finishWorkLua = `${prelude}
local key, owner, now = ARGV[2], ARGV[3], ARGV[4]
local h = P .. 'w:' .. key
local f = redis.call('HMGET', h, 'state', 'owner', 'lane')
if f[1] ~= 'running' or f[2] ~= owner then return 0 end
redis.call('HSET', h, 'state', 'done', 'finishedAt', now)
redis.call('HDEL', h, 'owner', 'leaseUntil', 'body')
redis.call('ZREM', P .. 'running', key)
redis.call('ZADD', P .. 'done', now, key)
if f[3] then
  local lane = P .. 'lane:' .. f[3]
  redis.call('LREM', lane, 1, key)
  local nxt = redis.call('LINDEX', lane, 0)
  if nxt and redis.call('HGET', P .. 'w:' .. nxt, 'state') == 'waiting' then
    redis.call('HSET', P .. 'w:' .. nxt, 'state', 'pending')
    redis.call('ZADD', P .. 'pending', redis.call('HGET', P .. 'w:' .. nxt, 'seq'), nxt)
    redis.call('HINCRBY', P .. 'stat', 'waiting', -1)
  end
end
queue_reports(5, now)
return 1
`;

/** ARGV: P, key, owner. */
export const releaseWorkLua = `
local P = ARGV[1]
local key, owner = ARGV[2], ARGV[3]
local h = P .. 'w:' .. key
local f = redis.call('HMGET', h, 'state', 'owner', 'seq')
if f[1] ~= 'running' or f[2] ~= owner then return 0 end
redis.call('HSET', h, 'state', 'pending')
redis.call('HDEL', h, 'owner', 'leaseUntil')
redis.call('HINCRBY', h, 'attempt', -1)
redis.call('ZREM', P .. 'running', key)
redis.call('ZADD', P .. 'pending', f[3], key)
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

/**
 * ARGV: P. Returns the owners of running work (P:running is as large as the work in flight) and of
 * leased outboxes (P:rowned), each once. Stale P:rowned members (outbox gone or unowned) are skipped.
 */
export const leaseHoldersLua = `
local P = ARGV[1]
local seen, out = {}, {}
local function add(owner)
  if owner and not seen[owner] then
    seen[owner] = true
    out[#out + 1] = owner
  end
end
for _, key in ipairs(redis.call('ZRANGE', P .. 'running', 0, -1)) do add(redis.call('HGET', P .. 'w:' .. key, 'owner')) end
for _, runId in ipairs(redis.call('SMEMBERS', P .. 'rowned')) do add(redis.call('HGET', P .. 'rrun:' .. runId, 'owner')) end
return out
`;

/**
 * ARGV: P, owners... Ends their leases: their running items go back to pending with the attempt kept (the
 * next claim is a later attempt), their outboxes are ready again at their head's due time. Returns
 * {work items freed, report runs freed}.
 */
export const expireLeasesLua = `
local P = ARGV[1]
local dead = {}
for j = 2, #ARGV do dead[ARGV[j]] = true end
local work, runs = 0, 0
for _, key in ipairs(redis.call('ZRANGE', P .. 'running', 0, -1)) do
  local h = P .. 'w:' .. key
  local f = redis.call('HMGET', h, 'owner', 'seq')
  if f[1] and dead[f[1]] then
    redis.call('HSET', h, 'state', 'pending')
    redis.call('HDEL', h, 'owner', 'leaseUntil')
    redis.call('ZREM', P .. 'running', key)
    redis.call('ZADD', P .. 'pending', f[2], key)
    work = work + 1
  end
end
for _, runId in ipairs(redis.call('SMEMBERS', P .. 'rowned')) do
  local rr = P .. 'rrun:' .. runId
  local f = redis.call('HMGET', rr, 'owner', 'due')
  if not f[1] then
    redis.call('SREM', P .. 'rowned', runId)
  elseif dead[f[1]] then
    redis.call('HSET', rr, 'lease', 0, 'claimedTo', 0)
    redis.call('HDEL', rr, 'owner')
    redis.call('SREM', P .. 'rowned', runId)
    redis.call('ZADD', P .. 'rready', f[2], runId)
    runs = runs + 1
  end
end
return { work, runs }
`;

/** ARGV: P, before (exclusive), chunk. Deletes up to `chunk` of each kind; returns {work, reports}. */
export const purgeLua = `
local P = ARGV[1]
local before, chunk = '(' .. ARGV[2], tonumber(ARGV[3])
local function purge(set, item)
  local ids = redis.call('ZRANGEBYSCORE', P .. set, '-inf', before, 'LIMIT', 0, chunk)
  for _, id in ipairs(ids) do
    redis.call('DEL', P .. item .. id)
    redis.call('ZREM', P .. set, id)
  end
  return #ids
end
return { purge('done', 'w:'), purge('rdelivered', 'r:') + purge('rfailed', 'r:') }
`;

/** ARGV: P. Returns pendingWork runningWork doneWork pendingReports failedReports deadLetters. */
export const countsLua = `
local P = ARGV[1]
local stat = redis.call('HMGET', P .. 'stat', 'waiting', 'pendingReports')
return {
  redis.call('ZCARD', P .. 'pending') + tonumber(stat[1] or '0'),
  redis.call('ZCARD', P .. 'running'),
  redis.call('ZCARD', P .. 'done'),
  tonumber(stat[2] or '0'),
  redis.call('ZCARD', P .. 'rfailed'),
  redis.call('ZCARD', P .. 'dls'),
}
`;
