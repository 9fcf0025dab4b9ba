// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "api/healthcheck.h"

namespace Cachedash {

class RedisRouter;

// GET /healthz's question put to Redis: a PING to every server the service uses (each primary
// of a cluster), and which of them, and which slots, do not answer.
class RedisHealthCheck final : public HealthCheck
{
public:
    explicit RedisHealthCheck(RedisRouter &redis)
        : m_redis(redis)
    { }

    QCoro::Task<Status> check() override;

private:
    RedisRouter &m_redis;
};

} // namespace Cachedash
