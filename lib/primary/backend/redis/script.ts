/**
 * The guard every script that writes for a primary runs first, before any
 * write: the store is still the one this primary counted on, this primary
 * still holds its id, and the total has not gone below what it last saw.
 * Checked in the same atomic step as the write, so that nothing a crash,
 * a restore or a second primary did between two batches slips through.
 *
 * guard(identityKey, claimKey, epochKey, totalKey, identity, token, epoch, leaseMs, floor)
 *   identityKey  a random id written once, when the store was first used (or adopted)
 *   claimKey     the claim on the primary id: the holder's token, with a lease
 *   epochKey     how many times the id was claimed; never expires
 *   identity     the identity the primary opened the store with
 *   token        its claim token; epoch: the claim count when it took it
 *   floor        the lowest total it may find (the last it saw)
 * A claim that lapsed (Redis away longer than the lease) is taken again when
 * nobody claimed the id since; once another process has, this primary is
 * fenced for good.
 *
 * Errors (nothing written): LIKES_IDENTITY <found or "none">, LIKES_FENCED <holder or "none">, LIKES_BEHIND <total>.
 */
const GUARD = `
local function guard(identityKey, claimKey, epochKey, totalKey, identity, token, epoch, leaseMs, floor)
  local found = redis.call('MGET', identityKey, claimKey, epochKey, totalKey)
  if identity == '' or found[1] ~= identity then
    return redis.error_reply('LIKES_IDENTITY ' .. (found[1] or 'none'))
  end
  if found[2] ~= token and (found[2] or found[3] ~= epoch) then
    return redis.error_reply('LIKES_FENCED ' .. (found[2] and 'held' or 'none'))
  end
  if tonumber(found[4] or '0') < tonumber(floor) then
    return redis.error_reply('LIKES_BEHIND ' .. (found[4] or '0'))
  end
  -- Lapsed, and nobody claimed the id since: ours again (a retake is harmless even if the script fails after it).
  if found[2] ~= token then redis.call('SET', claimKey, token, 'PX', leaseMs) end
  return false
end
`;

/**
 * The guard's keys come last in KEYS, its arguments after ARGV[7]: taken off
 * KEYS before the dedupe reads it, which thus sees the layout described below.
 */
const COMMIT_GUARD = `
local guardKeys = { KEYS[#KEYS - 2], KEYS[#KEYS - 1], KEYS[#KEYS] }
for _ = 1, 3 do table.remove(KEYS) end
local refused = guard(guardKeys[1], guardKeys[2], guardKeys[3], KEYS[1], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12])
if refused then return refused end
`;

/**
 * One page of this primary's journal, read under the guard: a fenced
 * primary must not copy another's batches into its log.
 *
 * KEYS  identity, claim, epoch, total, journal
 * ARGV  identity, token, epoch, lease (ms), start id (XRANGE form), count
 */
export const JOURNAL_SCRIPT = GUARD + `
local refused = guard(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], '0')
if refused then return refused end
return redis.call('XRANGE', KEYS[5], ARGV[5], '+', 'COUNT', ARGV[6])
`;

/**
 * The guard alone, writing nothing but a lapsed claim taken again: for the
 * primary's poll, so that /healthz tells of a lost store while no likes arrive.
 *
 * KEYS  identity, claim, epoch, total
 * ARGV  identity, token, epoch, lease (ms), floor
 * Returns the total (nil when unset).
 */
export const VERIFY_SCRIPT = GUARD + `
local refused = guard(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
if refused then return refused end
return redis.call('GET', KEYS[4])
`;

/**
 * The Lua script that commits one batch of likes in Redis, atomically and in
 * one round trip: dedupe per producer, one INCRBY of the shared total, and an
 * entry in this primary's journal. Kept apart from the store so that its
 * contract is read in one place; the batch's packing is in batch.ts.
 *
 * Its cost is per run, not per like: a batch's likes arrive grouped into runs
 * (one producer's consecutive seqs, in batch order), and a run above the
 * producer's highest seq, the common case, is accepted whole with its
 * precomputed sum. Only a run reaching back to seqs already seen (a retry)
 * is looked at like by like. The per-like text goes into the journal as it
 * came, never parsed or rebuilt here.
 *
 * KEYS[1]   the shared total (string holding an integer)
 * KEYS[2]   this primary's journal (stream)
 * KEYS[3..] one string per producer in the batch: "<highest seq> <window> <likes>", where window is W
 *           characters, the i-th (from 1) "1" when seq highest - i + 1 was applied, else "0", and
 *           likes the count the highest seq was applied with. Without likes (a key written before
 *           counts were kept) the count is unknown until the producer's next seq is applied.
 *
 * ARGV[1]   the batch time (ms since the epoch), stored in the journal entry
 * ARGV[2]   W, the dedupe window in seqs
 * ARGV[3]   producer TTL (ms): each producer key touched expires this long after; 0 for never
 * ARGV[4]   journal id the primary has logged up to (that entry and older ones are deleted), or ""
 * ARGV[5]   the runs, 5 numbers each, space-separated: k a n sum last
 *             k    index of the producer in KEYS minus 2 (1 = KEYS[3]), 0 for likes without producer
 *             a    first seq of the run (0 when k = 0); its seqs are a .. a + n - 1
 *             n    likes in the run
 *             sum  their likes
 *             last the likes of its last seq (the producer's count once the run is its highest)
 * ARGV[6]   the likes in batch order, 4 numbers each: server likes k seq (seq 0 when k = 0); read
 *           here only for a run reaching below its producer's highest seq; stored in the journal
 * ARGV[7]   the producer ids, space-separated, in KEYS order; stored in the journal
 * ARGV[8..12] and the last three KEYS (identity, claim, epoch): the guard's (above)
 *
 * For each like of a producer, in order:
 *   seq above the producer's highest   accepted (0): the seq joins the window
 *   the highest seq again with other likes than it was applied with   seq reused (3): not counted
 *   seq in the window, or applied earlier in this batch   duplicate (1): the window is cut
 *                                      back to the W seqs below the highest at the end of the batch
 *   anything else                      out of order (2): not counted
 * A like without producer is accepted.
 *
 * Returns { journal id or "" for an empty batch, total before the batch, outcomes }: outcomes
 * has one character per like, "0" "1" "2" or "3", run after run.
 *
 * Journal entry fields: t = batch time, b = total before the batch, p = ARGV[7], l = ARGV[6],
 * o = the outcomes as returned.
 *
 * Redis does not roll back a script that fails half-way, so every argument and
 * every producer's stored window is checked before the first write.
 */
export const COMMIT_SCRIPT = GUARD + COMMIT_GUARD + `
local window = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
if not window or window < 1 or not ttl then
  return redis.error_reply('ERR likes commit: bad window or ttl')
end
local producers = #KEYS - 2
local runs = {}
for token in string.gmatch(ARGV[5], '%S+') do
  local number = tonumber(token)
  if not number or number < 0 then return redis.error_reply('ERR likes commit: bad run ' .. token) end
  runs[#runs + 1] = number
end
if #runs % 5 ~= 0 then return redis.error_reply('ERR likes commit: runs are not 5 numbers each') end
for r = 1, #runs, 5 do
  if runs[r] > producers or runs[r + 2] < 1 then
    return redis.error_reply('ERR likes commit: bad run ' .. ((r + 4) / 5))
  end
end

local states = {}
for first = 3, #KEYS, 1000 do
  -- unpack() is bounded by the Lua stack.
  local last = math.min(first + 999, #KEYS)
  local values = redis.call('MGET', unpack(KEYS, first, last))
  for i = first, last do
    local value = values[i - first + 1]
    -- likes: the count of the highest seq, -1 while unknown (a new producer, or a key without it).
    local state = { high = -1, old = -1, bits = '', ranges = {}, likes = -1 }
    if value then
      local high, bits, likes = string.match(value, '^(%d+) ([01]*) (%d+)$')
      if not high then high, bits = string.match(value, '^(%d+) ([01]*)$') end
      if not high then return redis.error_reply('ERR likes commit: ' .. KEYS[i] .. ' is not a dedupe window') end
      state.old = tonumber(high)
      state.high = state.old
      state.bits = bits
      if likes then state.likes = tonumber(likes) end
    end
    states[i - 2] = state
  end
end

-- The first write: everything above is checked.
if ARGV[4] ~= '' then
  -- Everything up to and including that id: one XTRIM to the id just after it, when its parts are exact in Lua.
  local ms, seq = string.match(ARGV[4], '^(%d+)%-(%d+)$')
  if ms and #seq < 15 then
    redis.call('XTRIM', KEYS[2], 'MINID', ms .. '-' .. string.format('%d', tonumber(seq) + 1))
  else
    redis.call('XTRIM', KEYS[2], 'MINID', ARGV[4])
    redis.call('XDEL', KEYS[2], ARGV[4])
  end
end
if #runs == 0 then return { '' } end

-- The slow path's likes per run, from ARGV[6], grouped into runs as the packer did (batch.ts).
local runLikes
local function likesOfRun(r)
  if not runLikes then
    runLikes = {}
    local open = {}
    local fields = {}
    for token in string.gmatch(ARGV[6], '%S+') do
      fields[#fields + 1] = tonumber(token)
      if #fields == 4 then
        local k, seq = fields[3], fields[4]
        local run = open[k]
        if not run or (k > 0 and seq ~= run.next) then
          run = { next = seq, likes = {} }
          open[k] = run
          runLikes[#runLikes + 1] = run.likes
        end
        run.likes[#run.likes + 1] = fields[2]
        run.next = seq + 1
        fields = {}
      end
    end
  end
  return runLikes[(r + 4) / 5]
end

local function applied(state, seq)
  for _, range in ipairs(state.ranges) do
    if seq >= range[1] and seq <= range[2] then return true end
  end
  local behind = state.old - seq
  return behind >= 0 and behind < window and string.byte(state.bits, behind + 1) == 49
end

local delta = 0
local outcomes = {}
for r = 1, #runs, 5 do
  local k, a, n, sum = runs[r], runs[r + 1], runs[r + 2], runs[r + 3]
  local state = states[k]
  if k == 0 or a > state.high then
    delta = delta + sum
    outcomes[#outcomes + 1] = string.rep('0', n)
    if k > 0 then
      state.ranges[#state.ranges + 1] = { a, a + n - 1 }
      state.high = a + n - 1
      state.likes = runs[r + 4]
    end
  else
    local likes = likesOfRun(r)
    if not likes or #likes ~= n then return redis.error_reply('ERR likes commit: runs do not match the likes') end
    local chars = {}
    for i = 1, n do
      local seq = a + i - 1
      if seq > state.high then
        chars[i] = '0'
        delta = delta + likes[i]
      elseif applied(state, seq) then
        -- Seqs rise within a run, so only its first like can be the highest seen before it.
        if seq == state.high and state.likes >= 0 and likes[i] ~= state.likes then
          chars[i] = '3'
        else
          chars[i] = '1'
        end
      else
        chars[i] = '2'
      end
    end
    local last = a + n - 1
    if last > state.high then
      state.ranges[#state.ranges + 1] = { math.max(a, state.high + 1), last }
      state.high = last
      state.likes = likes[n]
    end
    outcomes[#outcomes + 1] = table.concat(chars)
  end
end

for k, state in pairs(states) do
  local high = state.high
  local shift = high - state.old
  local bits
  if state.old < 0 or shift >= window then
    bits = string.rep('0', window)
  else
    bits = string.rep('0', shift) .. string.sub(state.bits, 1, window - shift)
    if #bits < window then bits = bits .. string.rep('0', window - #bits) end
  end
  for _, range in ipairs(state.ranges) do
    local from, to = high - range[2] + 1, math.min(high - range[1] + 1, window)
    if from <= window then
      bits = string.sub(bits, 1, from - 1) .. string.rep('1', to - from + 1) .. string.sub(bits, to + 1)
    end
  end
  local value = string.format('%d', high) .. ' ' .. bits
  -- An unknown count stays unknown: a key without it is read as before.
  if state.likes >= 0 then value = value .. ' ' .. string.format('%d', state.likes) end
  if ttl > 0 then redis.call('SET', KEYS[k + 2], value, 'PX', ttl) else redis.call('SET', KEYS[k + 2], value) end
end
-- INCRBY answers the new total: the total before the batch needs no GET of its own.
local base
if delta ~= 0 then
  base = redis.call('INCRBY', KEYS[1], string.format('%d', delta)) - delta
else
  base = tonumber(redis.call('GET', KEYS[1]) or '0')
end
local outcomeText = table.concat(outcomes)
local baseText = string.format('%d', base)
local id = redis.call('XADD', KEYS[2], '*', 't', ARGV[1], 'b', baseText, 'p', ARGV[7], 'l', ARGV[6], 'o', outcomeText)
return { id, baseText, outcomeText }
`;
