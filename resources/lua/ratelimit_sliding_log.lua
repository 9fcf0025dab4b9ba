-- SPDX-License-Identifier: GPL-3.0-or-later
-- Sliding-log rate limiter: a request is admitted when, for every limit j, fewer than N_j requests
-- were admitted in the last W_j milliseconds. Exact. A refused request is not recorded, in any limit.
-- Atomic: Redis runs the whole script before any other command, so concurrent requests can never be
-- admitted past a limit.
--
-- One call decides for a batch of requests (those that arrived in one turn of the service's event
-- loop), in order, exactly as one call per request would, at one moment.
--
-- KEYS[i]     request i's client's sorted set (rate:sliding:<client>), repeated for each of a
--             client's requests; member = one admitted request, score = when it was admitted (ms
--             since the epoch, Redis's own clock). One set serves every limit: it keeps the entries
--             of the longest window.
-- ARGV[1]     L, the number of limits
-- ARGV[2j]    N_j, requests per window    (j = 1..L)
-- ARGV[2j+1]  W_j, the window in milliseconds
-- ARGV[2L+2]  a member prefix unique to this batch: request i's member is ARGV[2L+2] .. i
-- ARGV[2L+3]  "peek": read KEYS[1]'s state and write nothing (GET /ratelimit/{client})
--
-- Returns {now_us, then per request: verdict, remaining, wait_ms}
--   now_us     the moment of the decisions, by Redis's clock, in microseconds
--   verdict    +j if admitted (and recorded in every limit), -j if refused (and recorded in none),
--              j being the limit that speaks for the request (1-based): when admitted, the one
--              with the fewest requests left; when refused, the one that frees last
--   remaining  requests the binding limit still admits
--   wait_ms    when admitted, until the binding limit's oldest entry leaves its window (0: none);
--              when refused, until every limit admits again: the honest Retry-After
-- Peeking returns {now_us, then per limit: used, remaining, next_slot_ms, retry_ms, entries, 0, 0}
--   used          entries in the limit's window now
--   next_slot_ms  until the oldest of them leaves (0: none)
--   retry_ms      until this limit admits a request (0: it does now)
--   entries       members in the set (the longest window's)
local L = tonumber(ARGV[1])
local limits, windows = {}, {}
local longest = 0
for j = 1, L do
    limits[j] = tonumber(ARGV[2 * j])
    windows[j] = tonumber(ARGV[2 * j + 1])
    if windows[j] > longest then longest = windows[j] end
end
local prefix = ARGV[2 * L + 2]

-- The server's clock, so every instance sharing this Redis agrees whatever its own clock says.
local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
local now = math.floor(now_us / 1000)

-- The entry at `offset` (0: the oldest) among those in window j: an entry admitted at t counts
-- while now < t + W_j. Returns the ms until it leaves, or 0 when there is none.
local function leaves_in(key, j, offset)
    local found
    if windows[j] == longest and ARGV[2 * L + 3] ~= 'peek' then
        -- The set was trimmed to the longest window: its entries are this window's.
        found = redis.call('ZRANGE', key, offset, offset, 'WITHSCORES')
    else
        found = redis.call('ZRANGEBYSCORE', key, '(' .. (now - windows[j]), '+inf', 'WITHSCORES',
            'LIMIT', offset, 1)
    end
    return found[2] and (tonumber(found[2]) + windows[j] - now) or 0
end

local function count_in(key, j)
    return redis.call('ZCOUNT', key, '(' .. (now - windows[j]), '+inf')
end

if ARGV[2 * L + 3] == 'peek' then
    local key = KEYS[1]
    local result = {now_us}
    local entries = redis.call('ZCARD', key)
    for j = 1, L do
        local used = count_in(key, j)
        local retry = used >= limits[j] and leaves_in(key, j, used - limits[j]) or 0
        local base = 7 * (j - 1) + 1
        result[base + 1] = used
        result[base + 2] = math.max(0, limits[j] - used)
        result[base + 3] = leaves_in(key, j, 0)
        result[base + 4] = retry
        result[base + 5] = entries
        result[base + 6] = 0
        result[base + 7] = 0
    end
    return result
end

local clients = {} -- key -> {counts = {per limit}, admitted = {score, member, ...}}
local order = {}
local decided = {} -- per request: {allowed, binding, remaining, counts when refused}
for i, key in ipairs(KEYS) do
    local c = clients[key]
    if not c then
        redis.call('ZREMRANGEBYSCORE', key, '-inf', now - longest)
        c = {counts = {}, admitted = {}}
        local all
        for j = 1, L do
            if windows[j] == longest then
                all = all or redis.call('ZCARD', key)
                c.counts[j] = all
            else
                c.counts[j] = count_in(key, j)
            end
        end
        clients[key] = c
        order[#order + 1] = key
    end
    local allowed = true
    for j = 1, L do
        if c.counts[j] >= limits[j] then allowed = false end
    end
    if allowed then
        local binding, remaining = 1, nil
        for j = 1, L do
            c.counts[j] = c.counts[j] + 1
            local left = limits[j] - c.counts[j]
            if remaining == nil or left < remaining then binding, remaining = j, left end
        end
        c.admitted[#c.admitted + 1] = now
        c.admitted[#c.admitted + 1] = prefix .. i
        decided[i] = {1, binding, remaining}
    else
        local counts = {}
        for j = 1, L do counts[j] = c.counts[j] end
        decided[i] = {0, 1, 0, counts}
    end
end

for _, key in ipairs(order) do
    local c = clients[key]
    if #c.admitted > 0 then
        redis.call('ZADD', key, unpack(c.admitted))
        redis.call('PEXPIRE', key, longest)
    end
end

-- Entries admitted now are the newest, so the entry at a given offset from the oldest is the same
-- after the whole batch as it was when each request was decided.
local known = {}
local function leaves(key, j, offset)
    local id = key .. '\0' .. j .. '\0' .. offset
    local ms = known[id]
    if ms == nil then
        ms = leaves_in(key, j, offset)
        known[id] = ms
    end
    return ms
end

local result = {now_us}
for i, key in ipairs(KEYS) do
    local d = decided[i]
    local base = 3 * (i - 1) + 1
    result[base + 2] = d[3]
    if d[1] == 1 then
        result[base + 1] = d[2]
        result[base + 3] = leaves(key, d[2], 0)
    else
        -- Each full limit admits again once its entry at offset count - N leaves.
        local binding, wait = 1, 0
        for j = 1, L do
            if d[4][j] >= limits[j] then
                local ms = leaves(key, j, d[4][j] - limits[j])
                if ms > wait then binding, wait = j, ms end
            end
        end
        result[base + 1] = -binding
        result[base + 3] = wait
    end
end
return result
