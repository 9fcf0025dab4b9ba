// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "report.h"

#include <QByteArray>
#include <QString>

#include <qcoro/qcorotask.h>

#include <chrono>

namespace Cachedash {

class RedisClient;

// What a cache read found.
struct CacheRead
{
    enum class Outcome {
        Hit, // a valid report was stored
        Miss, // nothing stored
        Corrupt, // something stored that is not a valid report of this region (treated as a miss)
        Unavailable, // Redis did not answer: the cache is bypassed
    };
    Outcome outcome = Outcome::Miss;
    Report report; // on Hit
    QByteArray stored; // on Hit: the bytes as stored (toJson(false))
    std::chrono::milliseconds ttlLeft { 0 }; // on Hit: what remains of the entry's time to live
    QString problem; // on Corrupt or Unavailable: why
};

// Cache-aside over Redis for reports: the key is report:{region}, the value the report's JSON,
// written with SET ... EX.
class ReportCache
{
public:
    ReportCache(RedisClient &redis, std::chrono::seconds ttl);

    std::chrono::seconds ttl() const { return m_ttl; }
    void setTtl(std::chrono::seconds ttl) { m_ttl = ttl; }

    static QByteArray keyFor(const QString &region);

    // GET and PTTL of the report's key. Both are sent before this returns, so they share a round
    // trip with whatever was sent just before or after.
    QCoro::Task<CacheRead> read(QString region);
    // Stores a freshly computed report for ttl(). Returns false (and logs) if Redis refused or is down.
    QCoro::Task<bool> store(Report report);
    // Deletes the report's key: 1 if it existed, 0 if not, or a failure reply.
    QCoro::Task<std::optional<bool>> invalidate(QString region);

    quint64 corruptEntries() const { return m_corrupt; }

private:
    RedisClient &m_redis;
    std::chrono::seconds m_ttl;
    quint64 m_corrupt = 0;
};

} // namespace Cachedash
