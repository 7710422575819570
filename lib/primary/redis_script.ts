/**
 * The Lua script that commits one batch of likes in Redis, atomically and in
 * one round trip: dedupe per producer, one INCRBY of the shared total, and an
 * entry in this primary's journal. Kept apart from the store so that its
 * contract is read in one place.
 *
 * KEYS[1]   the shared total (string holding an integer)
 * KEYS[2]   this primary's journal (stream)
 * KEYS[3..] one sorted set per producer in the batch: its last W applied seqs (member and score = seq)
 *
 * ARGV[1]   the batch time (ms since the epoch), stored in the journal entry
 * ARGV[2]   W, the dedupe window: applied seqs remembered per producer
 * ARGV[3]   producer TTL (ms): each producer key touched expires this long after; 0 for never
 * ARGV[4]   journal id the primary has logged up to (that entry and older ones are deleted), or ""
 * ARGV[5]   n, the number of likes
 * then 5 per like: server, likes, index of its producer key in KEYS (0 without producer), producer id, seq
 *
 * For each like, in order:
 *   without producer                 accepted (0)
 *   seq above the producer's highest accepted (0): the seq joins the window
 *   seq among the last W applied     duplicate (1) (within one batch, among all it applied: the
 *                                    window is cut back to W at the end of the batch)
 *   anything else                    out of order (2): not counted
 *
 * Returns { journal id or "" when n = 0, outcome 1, total after like 1, outcome 2, total 2, ... }.
 *
 * Journal entry fields: t = batch time, l = one line per like, "\n"-separated:
 *   <server> <likes> <outcome> <total after>[ <producer> <seq>]
 *
 * Redis does not roll back a script that fails half-way, so every argument is
 * checked before the first write.
 */
export const COMMIT_SCRIPT = `
local window = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local n = tonumber(ARGV[5])
if not window or window < 1 or not ttl or not n then
  return redis.error_reply('ERR likes commit: bad window, ttl or count')
end
if #ARGV ~= 5 + n * 5 then
  return redis.error_reply('ERR likes commit: expected ' .. (5 + n * 5) .. ' arguments, got ' .. #ARGV)
end
for i = 0, n - 1 do
  local a = 6 + i * 5
  local k = tonumber(ARGV[a + 2])
  if not tonumber(ARGV[a + 1]) or not k or k > #KEYS or (k > 0 and (k < 3 or not tonumber(ARGV[a + 4]))) then
    return redis.error_reply('ERR likes commit: bad like ' .. (i + 1))
  end
end

if ARGV[4] ~= '' then
  redis.call('XTRIM', KEYS[2], 'MINID', ARGV[4])
  redis.call('XDEL', KEYS[2], ARGV[4])
end
if n == 0 then return { '' } end

local base = tonumber(redis.call('GET', KEYS[1]) or '0')
local total = base
local highest = {}
local adds = {}
local reply = { '' }
local lines = {}
for i = 0, n - 1 do
  local a = 6 + i * 5
  local k = tonumber(ARGV[a + 2])
  local outcome = 0
  local line = ARGV[a] .. ' ' .. ARGV[a + 1]
  if k > 0 then
    local key = KEYS[k]
    local seqText = ARGV[a + 4]
    local seq = tonumber(seqText)
    local high = highest[key]
    if high == nil then
      local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
      if top[2] then high = tonumber(top[2]) else high = -1 end
    end
    local adding = adds[key]
    if adding == nil then
      adding = {}
      adds[key] = adding
    end
    if seq > high then
      adding[#adding + 1] = seqText
      adding[#adding + 1] = seqText
      adding[seqText] = true
      high = seq
    elseif adding[seqText] or redis.call('ZSCORE', key, seqText) then
      outcome = 1
    else
      outcome = 2
    end
    highest[key] = high
  end
  if outcome == 0 then total = total + tonumber(ARGV[a + 1]) end
  reply[#reply + 1] = outcome
  reply[#reply + 1] = total
  line = line .. ' ' .. outcome .. ' ' .. string.format('%d', total)
  if k > 0 then line = line .. ' ' .. ARGV[a + 3] .. ' ' .. ARGV[a + 4] end
  lines[#lines + 1] = line
end

for key, adding in pairs(adds) do
  -- One ZADD per producer, not per like: it is most of the script's cost. unpack() is bounded by the Lua stack.
  for first = 1, #adding, 1000 do
    redis.call('ZADD', key, unpack(adding, first, math.min(first + 999, #adding)))
  end
  redis.call('ZREMRANGEBYRANK', key, 0, -(window + 1))
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end
if total ~= base then redis.call('INCRBY', KEYS[1], string.format('%d', total - base)) end
reply[1] = redis.call('XADD', KEYS[2], '*', 't', ARGV[1], 'l', table.concat(lines, '\\n'))
return reply
`;
