-- SPDX-License-Identifier: GPL-3.0-or-later
-- Sliding-window rate limiter: admits at most LIMIT requests in any WINDOW milliseconds.
-- Atomic: Redis runs the whole script before any other command, so concurrent requests
-- can never be admitted past the limit.
--
-- One call decides for a batch of requests (those that arrived in one turn of the service's event
-- loop), in order, exactly as one call per request would, at one moment.
--
-- KEYS[i]  request i's client's sorted set (rate:sliding:{client}), repeated for each of a client's
--          requests; member = one admitted request, score = when it was admitted (ms since the
--          epoch, Redis's own clock)
-- ARGV[1]  WINDOW in milliseconds
-- ARGV[2]  LIMIT, requests per window
-- ARGV[3]  a member prefix unique to this batch: request i's member is ARGV[3] .. i
--
-- Returns {now_ms, allowed_1, remaining_1, next_slot_ms_1, allowed_2, ...}
--   now_ms        the time the decisions were made, by Redis's clock
--   allowed       1 if admitted (and recorded), 0 if rejected (and not recorded)
--   remaining     requests still admissible in the window after this one
--   next_slot_ms  ms until the oldest entry leaves the window and gives a slot back:
--                 when rejected, the honest Retry-After
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])

-- The server's clock, so every instance sharing this Redis agrees whatever its own clock says.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local clients = {} -- key -> {count, admitted = {score, member, ...}}
local order = {}
local result = {now}
for i, key in ipairs(KEYS) do
    local c = clients[key]
    if not c then
        -- An entry admitted at t counts while now < t + window.
        redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
        c = {count = redis.call('ZCARD', key), admitted = {}}
        clients[key] = c
        order[#order + 1] = key
    end
    local allowed = 0
    if c.count < limit then
        c.count = c.count + 1
        c.admitted[#c.admitted + 1] = now
        c.admitted[#c.admitted + 1] = ARGV[3] .. i
        allowed = 1
    end
    result[3 * i - 1] = allowed
    result[3 * i] = limit - c.count
end

-- Entries admitted now are the newest, so the oldest entry after the whole batch is the oldest
-- after each of its admissions (or, for a rejection, in the full window it met).
local next_slot = {}
for _, key in ipairs(order) do
    local c = clients[key]
    if #c.admitted > 0 then
        redis.call('ZADD', key, unpack(c.admitted))
        redis.call('PEXPIRE', key, window)
    end
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    next_slot[key] = oldest[2] and (tonumber(oldest[2]) + window - now) or 0
end
for i, key in ipairs(KEYS) do
    result[3 * i + 1] = next_slot[key]
end
return result
