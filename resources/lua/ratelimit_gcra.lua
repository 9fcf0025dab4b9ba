-- SPDX-License-Identifier: GPL-3.0-or-later
-- GCRA (generic cell rate algorithm) rate limiter: one number per client and limit, the theoretical
-- arrival time (TAT) of its next request. For a limit of N per W, requests are spaced by the emission
-- interval T = floor(W / N) (in microseconds), with a tolerance tau = (N - 1) * T: a fresh client may
-- send N at once, then one per T. A request at `now` conforms to a limit when now >= TAT - tau; it is
-- admitted when it conforms to every limit, and then each TAT becomes max(TAT, now) + T. A refused
-- request changes nothing. Exact for this definition; atomic, and batched as ratelimit_sliding_log.lua.
--
-- KEYS[(i-1)*L + j]  request i's TAT for limit j (rate:gcra:{<client>}:N/W), a string of
--                    microseconds since the epoch (Redis's clock); it expires when it is in the past
-- ARGV[1]            L, the number of limits
-- ARGV[2j]           N_j, requests per window    (j = 1..L)
-- ARGV[2j+1]         W_j, the window in milliseconds
-- ARGV[2L+2]         (unused: the sliding log's member prefix)
-- ARGV[2L+3]         "peek": read the L keys of one client and write nothing
--
-- Returns {now_us, then per request: verdict, remaining, wait_ms}, as the sliding log;
-- when admitted, wait_ms is until the binding limit admits one more request than now (0: it is full).
-- Peeking returns {now_us, then per limit: used, remaining, next_slot_ms, retry_ms, tat_in_us, T_us,
-- tau_us}, tat_in_us being how far the TAT is ahead of now (0 when it is not).
local L = tonumber(ARGV[1])
local limits, interval, tolerance = {}, {}, {}
for j = 1, L do
    limits[j] = tonumber(ARGV[2 * j])
    interval[j] = math.max(1, math.floor(tonumber(ARGV[2 * j + 1]) * 1000 / limits[j]))
    tolerance[j] = (limits[j] - 1) * interval[j]
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])

-- Requests limit j admits at once with this TAT, and the microseconds until it admits one more.
local function allowance(j, tat)
    local x = now - math.max(tat, now) + tolerance[j]
    if x < 0 then return 0, -x end
    local remaining = math.min(limits[j], math.floor(x / interval[j]) + 1)
    if remaining == limits[j] then return remaining, 0 end
    return remaining, interval[j] - x % interval[j]
end

local function ms(us)
    return math.ceil(us / 1000)
end

local tats = {} -- key -> TAT, as read or as updated
local dirty, order = {}, {}
local function tat_of(key)
    local tat = tats[key]
    if tat == nil then
        tat = tonumber(redis.call('GET', key)) or 0
        tats[key] = tat
    end
    return tat
end

if ARGV[2 * L + 3] == 'peek' then
    local result = {now}
    for j = 1, L do
        local tat = tat_of(KEYS[j])
        local remaining, next_us = allowance(j, tat)
        local base = 7 * (j - 1) + 1
        result[base + 1] = limits[j] - remaining
        result[base + 2] = remaining
        result[base + 3] = ms(next_us)
        result[base + 4] = remaining > 0 and 0 or ms(next_us)
        result[base + 5] = math.max(0, tat - now)
        result[base + 6] = interval[j]
        result[base + 7] = tolerance[j]
    end
    return result
end

local result = {now}
for i = 1, #KEYS / L do
    local first = (i - 1) * L
    local binding, wait = 1, 0
    for j = 1, L do
        -- Conforms when now >= TAT - tau: otherwise it does in TAT - tau - now.
        local early = tat_of(KEYS[first + j]) - tolerance[j] - now
        if early > wait then binding, wait = j, early end
    end
    local base = 3 * (i - 1) + 1
    if wait > 0 then
        result[base + 1] = -binding
        result[base + 2] = 0
        result[base + 3] = ms(wait)
    else
        local remaining, next_us
        for j = 1, L do
            local key = KEYS[first + j]
            tats[key] = math.max(tats[key], now) + interval[j]
            if not dirty[key] then
                dirty[key] = true
                order[#order + 1] = key
            end
            local left, next_j = allowance(j, tats[key])
            if remaining == nil or left < remaining then binding, remaining, next_us = j, left, next_j end
        end
        result[base + 1] = binding
        result[base + 2] = remaining
        result[base + 3] = ms(next_us)
    end
end

for _, key in ipairs(order) do
    -- Past its TAT a key says nothing a missing one would not: it expires then.
    redis.call('SET', key, string.format('%.0f', tats[key]), 'PX', ms(tats[key] - now))
end
return result
