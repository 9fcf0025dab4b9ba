-- SPDX-License-Identifier: GPL-3.0-or-later
-- Stores a freshly computed report, but only while its computation still holds the fill lease.
-- A refresh deletes the lease together with the report, so a computation that started before the
-- refresh can never write its (now outdated) report back over the invalidation.
--
-- KEYS[1]  the report key (report:{region})
-- KEYS[2]  the lease key ({report:region}:lease, in the report's cluster slot), whose value is the
--          filler's token
-- ARGV[1]  the filler's lease token
-- ARGV[2]  the report's JSON
-- ARGV[3]  time to live in seconds
--
-- Returns 1 if stored (and the lease released), 0 if the lease was lost and nothing was written.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
    return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1
