// SPDX-License-Identifier: GPL-3.0-or-later
#include "redishealthcheck.h"

#include "redis/redisclient.h"

namespace Cachedash {

QCoro::Task<HealthCheck::Status> RedisHealthCheck::check()
{
    RedisPendingReply ping = m_redis.ping();
    const RedisReply pong = co_await ping;
    co_return Status{pong.isOk(), pong.isOk() ? QString() : pong.errorText()};
}

} // namespace Cachedash
