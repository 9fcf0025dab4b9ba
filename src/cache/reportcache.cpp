// SPDX-License-Identifier: GPL-3.0-or-later
#include "reportcache.h"

#include "cachelogging.h"
#include "redisclient.h"

using namespace std::chrono;

namespace Cachedash {

ReportCache::ReportCache(RedisClient &redis, seconds ttl)
    : m_redis(redis)
    , m_ttl(ttl)
{ }

QByteArray ReportCache::keyFor(const QString &region)
{
    return QByteArrayLiteral("report:") + region.toUtf8();
}

QCoro::Task<CacheRead> ReportCache::read(QString region)
{
    const QByteArray key = keyFor(region);
    RedisPendingReply valueReply = m_redis.get(key);
    RedisPendingReply ttlReply = m_redis.pttl(key);
    const RedisReply value = co_await valueReply;
    const RedisReply ttl = co_await ttlReply;

    CacheRead read;
    if (!value.isOk()) {
        read.outcome = CacheRead::Outcome::Unavailable;
        read.problem = value.errorText();
        co_return read;
    }
    if (value.isNil()) {
        read.outcome = CacheRead::Outcome::Miss;
        co_return read;
    }
    QString why;
    std::optional<Report> report
        = value.isString() ? Report::fromJson(value.bytes(), region, &why) : std::nullopt;
    if (!report) {
        if (why.isEmpty())
            why = QStringLiteral("not a string value");
        ++m_corrupt;
        qCWarning(lcCache).noquote() << "ignoring the invalid entry under" << QString::fromUtf8(key) << "-"
                                     << why;
        read.outcome = CacheRead::Outcome::Corrupt;
        read.problem = why;
        co_return read;
    }
    read.outcome = CacheRead::Outcome::Hit;
    read.report = std::move(*report);
    read.stored = value.bytes();
    // PTTL answers -1 for a key without expiry and -2 if it vanished between the two commands.
    read.ttlLeft = milliseconds(ttl.isInteger() ? std::max<qint64>(ttl.toInteger(), 0) : 0);
    co_return read;
}

QCoro::Task<bool> ReportCache::store(Report report)
{
    const QByteArray key = keyFor(report.region);
    const QByteArray json = report.toJson(false);
    RedisPendingReply pending = m_redis.set(key, json, m_ttl);
    const RedisReply reply = co_await pending;
    if (!reply.isOk()) {
        qCWarning(lcCache).noquote() << "could not store" << QString::fromUtf8(key) << "-"
                                     << reply.errorText();
        co_return false;
    }
    co_return true;
}

QCoro::Task<std::optional<bool>> ReportCache::invalidate(QString region)
{
    const QByteArrayList keys { keyFor(region) };
    RedisPendingReply pending = m_redis.del(keys);
    const RedisReply reply = co_await pending;
    if (!reply.isInteger()) {
        qCWarning(lcCache).noquote() << "could not invalidate" << QString::fromUtf8(keys.first()) << "-"
                                     << reply.errorText();
        co_return std::nullopt;
    }
    co_return reply.toInteger() > 0;
}

} // namespace Cachedash
