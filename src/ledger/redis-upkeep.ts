/**
 * The Redis ledger's upkeep scripts (see redis-scripts.ts for the key layout): who holds leases, ending the
 * leases of dead owners, purging what retention forgets, and the counts.
 */
import { WORK_KINDS } from "./ledger.ts";

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
  local f = redis.call('HMGET', h, 'owner', 'seq', 'kind')
  if f[1] and dead[f[1]] then
    redis.call('HSET', h, 'state', 'pending')
    redis.call('HDEL', h, 'owner', 'leaseUntil')
    redis.call('ZREM', P .. 'running', key)
    redis.call('ZADD', P .. 'pending:' .. f[3], f[2], key)
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
    if item == 'w:' then
      redis.call('ZREM', P .. 'runs', id)
    else
      local runId = redis.call('HGET', P .. 'r:' .. id, 'runId')
      if runId then redis.call('ZREM', P .. 'rh:' .. runId, id) end
    end
    redis.call('DEL', P .. item .. id)
    redis.call('ZREM', P .. set, id)
  end
  return #ids
end
return { purge('done', 'w:'), purge('rdelivered', 'r:') + purge('rfailed', 'r:') }
`;

/** ARGV: P. Returns pendingWork runningWork doneWork pendingReports failedReports deadLetters oldestHeldReportAt (false: none). */
export const countsLua = `
local P = ARGV[1]
-- Runs whose reports waited before their waiting was kept (an earlier layout): since their head's due time.
if redis.call('ZCARD', P .. 'rsince') < redis.call('ZCARD', P .. 'rready') then
  for _, runId in ipairs(redis.call('ZRANGE', P .. 'rready', 0, -1)) do
    redis.call('ZADD', P .. 'rsince', 'NX', redis.call('HGET', P .. 'rrun:' .. runId, 'due') or 0, runId)
  end
end
local stat = redis.call('HMGET', P .. 'stat', 'waiting', 'pendingReports')
return {
  redis.call('ZCARD', P .. 'pending') + ${WORK_KINDS.map((kind) => `redis.call('ZCARD', P .. 'pending:${kind}')`).join(" + ")} + tonumber(stat[1] or '0'),
  redis.call('ZCARD', P .. 'running'),
  redis.call('ZCARD', P .. 'done'),
  tonumber(stat[2] or '0'),
  redis.call('ZCARD', P .. 'rfailed'),
  redis.call('ZCARD', P .. 'dls'),
  redis.call('ZRANGE', P .. 'rsince', 0, 0, 'WITHSCORES')[2] or false,
}
`;
