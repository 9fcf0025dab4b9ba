-- SPDX-License-Identifier: GPL-3.0-or-later
-- Gives up a fill lease, but only while it is still the caller's: a computation whose report could
-- not be stored (Redis refused the write, or it failed) lets the next miss compute at once instead
-- of waiting for the lease to expire. Another filler's lease, taken after this one expired, stays.
--
-- KEYS[1]  the lease key ({report:region}:lease)
-- ARGV[1]  the caller's lease token
--
-- Returns 1 if the lease was released, 0 if it was not the caller's (or gone).
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
