// SPDX-License-Identifier: GPL-3.0-or-later
#include "redishealthcheck.h"

#include "redis/redisrouter.h"

#include <QJsonArray>

namespace Cachedash {

QCoro::Task<HealthCheck::Status> RedisHealthCheck::check()
{
    QCoro::Task<RedisRouter::Health> checking = m_redis.checkHealth();
    const RedisRouter::Health health = co_await checking;
    Status status;
    status.up = health.up;
    status.detail = health.detail;
    QJsonArray nodes;
    int up = 0;
    for (const RedisRouter::Node &node : health.nodes) {
        QJsonObject entry{{QStringLiteral("address"), node.address}, {QStringLiteral("role"), node.role},
            {QStringLiteral("up"), node.up}};
        if (!node.slots.isEmpty())
            entry.insert(QStringLiteral("slots"), node.slots);
        if (!node.up)
            entry.insert(QStringLiteral("problem"), node.problem);
        nodes.append(entry);
        up += node.up ? 1 : 0;
    }
    // "partial": some of the servers answer, so only the keys of the others are degraded.
    status.state = health.up ? QStringLiteral("up")
        : up > 0             ? QStringLiteral("partial")
                             : QStringLiteral("down");
    status.details.insert(QStringLiteral("mode"), m_redis.describe());
    status.details.insert(QStringLiteral("transport"), m_redis.transport());
    status.details.insert(QStringLiteral("nodes"), nodes);
    co_return status;
}

} // namespace Cachedash
