-- SPDX-License-Identifier: GPL-3.0-or-later
-- Reads a client's sliding window without touching it: GET /ratelimit/{client}.
-- Counts as sliding_window.lua does (an entry admitted at t counts while now < t + WINDOW), by the
-- same clock, and writes nothing: expired entries stay until the client's next request.
--
-- KEYS[1]  the client's sorted set (rate:sliding:{client})
-- ARGV[1]  WINDOW in milliseconds
--
-- Returns {now_ms, used, next_slot_ms}
--   used          entries in the window now
--   next_slot_ms  ms until the oldest of them leaves the window (0 when there is none)
local window = tonumber(ARGV[1])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local since = '(' .. (now - window)
local used = redis.call('ZCOUNT', KEYS[1], since, '+inf')
local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local next_slot = oldest[2] and (tonumber(oldest[2]) + window - now) or 0
return {now, used, next_slot}
