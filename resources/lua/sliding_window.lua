-- SPDX-License-Identifier: GPL-3.0-or-later
-- Sliding-window rate limiter: admits at most LIMIT requests in any WINDOW milliseconds.
-- Atomic: Redis runs the whole script before any other command, so concurrent requests
-- can never be admitted past the limit.
--
-- KEYS[1]  the client's sorted set (rate:sliding:{client}); member = one admitted request,
--          score = when it was admitted (ms since the epoch, Redis's own clock)
-- ARGV[1]  WINDOW in milliseconds
-- ARGV[2]  LIMIT, requests per window
-- ARGV[3]  a member unique to this request
--
-- Returns {allowed, remaining, next_slot_ms, now_ms}
--   allowed       1 if admitted (and recorded), 0 if rejected (and not recorded)
--   remaining     requests still admissible in the window after this one
--   next_slot_ms  ms until the oldest entry leaves the window and gives a slot back:
--                 when rejected, the honest Retry-After
--   now_ms        the time the decision was made, by Redis's clock
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])

-- The server's clock, so every instance sharing this Redis agrees whatever its own clock says.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- An entry admitted at t counts while now < t + window.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])

local allowed = 0
if count < limit then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], window)
    count = count + 1
    allowed = 1
end

local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next_slot = 0
if oldest[2] then
    next_slot = tonumber(oldest[2]) + window - now
end
return {allowed, limit - count, next_slot, now}
