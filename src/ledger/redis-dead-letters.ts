/**
 * The Redis ledger's scripts that read and forget dead letters (key layout: redis-scripts.ts). A list
 * never reads a record's bytes: they stay in the letter's hash until `getDeadLetter` asks for them.
 */

/**
 * ARGV: P, after (exclusive), limit. Returns 9 fields per letter: id key kind reason source rawEncoding
 * size runId parkedAt (key and rawEncoding are nil for letters parked before they were kept; size then is
 * the length of the stored text). Never reads a record's bytes.
 */
export const listDeadLettersLua = `
local P = ARGV[1]
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'dls', '(' .. ARGV[2], '+inf', 'LIMIT', 0, tonumber(ARGV[3]))) do
  local h = P .. 'dl:' .. id
  local f = redis.call('HMGET', h, 'key', 'kind', 'reason', 'source', 'rawEncoding', 'size', 'runId', 'parkedAt')
  if not f[6] then f[6] = redis.call('HSTRLEN', h, 'raw') end
  out[#out + 1] = id
  for k = 1, 8 do out[#out + 1] = f[k] end
end
return out
`;

/**
 * ARGV: P, before (exclusive), chunk. Forgets up to chunk dead letters, oldest first, up to the first one
 * parked at or after the cut (ids follow parking order), freeing their keys. Returns how many went.
 */
export const purgeDeadLettersLua = `
local P = ARGV[1]
local before, chunk = tonumber(ARGV[2]), tonumber(ARGV[3])
local n = 0
for _, id in ipairs(redis.call('ZRANGE', P .. 'dls', 0, chunk - 1)) do
  local h = P .. 'dl:' .. id
  local f = redis.call('HMGET', h, 'parkedAt', 'key')
  if tonumber(f[1] or '0') >= before then break end
  redis.call('DEL', h)
  redis.call('ZREM', P .. 'dls', id)
  if f[2] and redis.call('HGET', P .. 'dlkeys', f[2]) == id then redis.call('HDEL', P .. 'dlkeys', f[2]) end
  n = n + 1
end
return n
`;

/** ARGV: P, id. Frees the letter's dedupe key. */
export const removeDeadLetterLua = `
local P = ARGV[1]
local h = P .. 'dl:' .. ARGV[2]
local key = redis.call('HGET', h, 'key')
if redis.call('DEL', h) == 0 then return 0 end
redis.call('ZREM', P .. 'dls', ARGV[2])
if key and redis.call('HGET', P .. 'dlkeys', key) == ARGV[2] then redis.call('HDEL', P .. 'dlkeys', key) end
return 1
`;
