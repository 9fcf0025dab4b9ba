// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "api/healthcheck.h"

namespace Cachedash {

class RedisClient;

// GET /healthz's question put to Redis: a PING over the service's connection.
class RedisHealthCheck final : public HealthCheck
{
public:
    explicit RedisHealthCheck(RedisClient &redis)
        : m_redis(redis)
    { }

    QCoro::Task<Status> check() override;

private:
    RedisClient &m_redis;
};

} // namespace Cachedash
