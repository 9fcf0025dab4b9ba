-- SPDX-License-Identifier: GPL-3.0-or-later
-- Sliding-window-counter rate limiter: per client and limit, the counts of the current fixed window
-- (aligned on multiples of W since the epoch) and of the one before. The previous count is weighted
-- by the share of the sliding window that still overlaps it: with `e` ms elapsed in the current
-- window, the estimate is previous * (W - e) / W + current, and a request is admitted when the
-- estimate is below N for every limit (computed in whole numbers: previous * (W - e) + current * W
-- < N * W). Approximate (it assumes the previous window's requests were evenly spread) and O(1):
-- three small numbers per limit. A refused request is counted in none. Atomic, and batched as
-- ratelimit_sliding_log.lua.
--
-- KEYS[(i-1)*L + j]  request i's counters for limit j (rate:counter:{<client>}:N/W), a hash:
--                    w = the current window's index (ms since the epoch / W), c = its count,
--                    p = the previous window's count; it expires when both windows are over
-- ARGV[1]            L, the number of limits
-- ARGV[2j]           N_j, requests per window    (j = 1..L)
-- ARGV[2j+1]         W_j, the window in milliseconds
-- ARGV[2L+2]         (unused: the sliding log's member prefix)
-- ARGV[2L+3]         "peek": read the L keys of one client and write nothing
--
-- Returns {now_us, then per request: verdict, remaining, wait_ms}, as the sliding log;
-- when admitted, wait_ms is until the binding limit admits one more request than now (0: it is full).
-- Peeking returns {now_us, then per limit: used, remaining, next_slot_ms, retry_ms, current,
-- previous, elapsed_ms}.
local L = tonumber(ARGV[1])
local limits, windows = {}, {}
for j = 1, L do
    limits[j] = tonumber(ARGV[2 * j])
    windows[j] = tonumber(ARGV[2 * j + 1])
end

local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
local now = math.floor(now_us / 1000)

local states = {} -- key -> {c, p, w}, rolled to now's window
local dirty, order = {}, {}
local function state_of(key, j)
    local s = states[key]
    if s == nil then
        local stored = redis.call('HMGET', key, 'w', 'c', 'p')
        local index = math.floor(now / windows[j])
        local w, c, p = tonumber(stored[1]), tonumber(stored[2]) or 0, tonumber(stored[3]) or 0
        if w == index - 1 then
            p, c = c, 0
        elseif w ~= index then
            p, c = 0, 0
        end
        s = {c = c, p = p, w = index, e = now - index * windows[j]}
        states[key] = s
    end
    return s
end

local function ceil_div(a, b)
    return math.floor((a + b - 1) / b)
end

-- Requests limit j admits now.
local function remaining_of(j, s)
    local W = windows[j]
    local x = limits[j] * W - s.c * W - s.p * (W - s.e)
    return x > 0 and ceil_div(x, W) or 0
end

-- Milliseconds until previous * (W - e) + current * W < M * W, if nothing is admitted meanwhile.
local function wait_until(j, s, M)
    local W, c, p, e = windows[j], s.c, s.p, s.e
    if p * (W - e) + c * W < M * W then return 0 end
    if c < M and p > 0 then
        -- In this window: p * (W - e') < (M - c) * W once e' >= W - ceil((M - c) * W / p) + 1.
        local at = W - ceil_div((M - c) * W, p) + 1
        if at < W then return at - e end
    end
    -- In the next window the current count becomes the previous one, and nothing is current.
    local at = 0
    if c > 0 then at = math.max(0, W - ceil_div(M * W, c) + 1) end
    return W - e + at
end

if ARGV[2 * L + 3] == 'peek' then
    local result = {now_us}
    for j = 1, L do
        local s = state_of(KEYS[j], j)
        local remaining = remaining_of(j, s)
        local base = 7 * (j - 1) + 1
        result[base + 1] = limits[j] - remaining
        result[base + 2] = remaining
        result[base + 3] = remaining < limits[j] and wait_until(j, s, limits[j] - remaining) or 0
        result[base + 4] = wait_until(j, s, limits[j])
        result[base + 5] = s.c
        result[base + 6] = s.p
        result[base + 7] = s.e
    end
    return result
end

local result = {now_us}
for i = 1, #KEYS / L do
    local first = (i - 1) * L
    local binding, wait = 1, 0
    for j = 1, L do
        local ms = wait_until(j, state_of(KEYS[first + j], j), limits[j])
        if ms > wait then binding, wait = j, ms end
    end
    local base = 3 * (i - 1) + 1
    if wait > 0 then
        result[base + 1] = -binding
        result[base + 2] = 0
        result[base + 3] = wait
    else
        local remaining, next_ms
        for j = 1, L do
            local key = KEYS[first + j]
            local s = states[key]
            s.c = s.c + 1
            if not dirty[key] then
                dirty[key] = j
                order[#order + 1] = key
            end
            local left = remaining_of(j, s)
            if remaining == nil or left < remaining then
                binding, remaining = j, left
                next_ms = left < limits[j] and wait_until(j, s, limits[j] - left) or 0
            end
        end
        result[base + 1] = binding
        result[base + 2] = remaining
        result[base + 3] = next_ms
    end
end

for _, key in ipairs(order) do
    local s, W = states[key], windows[dirty[key]]
    redis.call('HSET', key, 'w', s.w, 'c', s.c, 'p', s.p)
    -- Once both windows are over, the counts say nothing a missing key would not.
    redis.call('PEXPIRE', key, 2 * W - s.e)
end
return result
