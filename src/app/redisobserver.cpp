// SPDX-License-Identifier: GPL-3.0-or-later
#include "redisobserver.h"

#include "redisclient.h"
#include "reportcache.h"
#include "reportsource.h"
#include "service.h"
#include "slidingwindowlimiter.h"

using namespace std::chrono;

namespace Cachedash {

namespace {
QString stateName(RedisClient::State state)
{
    switch (state) {
    case RedisClient::State::Ready: return QStringLiteral("up");
    case RedisClient::State::Connecting: return QStringLiteral("connecting");
    case RedisClient::State::Reconnecting: return QStringLiteral("reconnecting");
    default: return QStringLiteral("down");
    }
}
} // namespace

RedisObserver::RedisObserver(Service &service, QObject *parent)
    : QObject(parent)
    , m_service(service)
{
    m_timer.setInterval(100);
    connect(&m_timer, &QTimer::timeout, this, [this] { poll(); });
    m_timer.start();
}

void RedisObserver::setRegion(const QString &region)
{
    m_region = region;
    pollSoon();
}

void RedisObserver::setClient(const QString &client)
{
    m_client = client;
    pollSoon();
}

void RedisObserver::pollSoon()
{
    QTimer::singleShot(0, this, [this] { poll(); });
}

QCoro::Task<> RedisObserver::poll()
{
    if (m_polling)
        co_return;
    m_polling = true;
    RedisClient &redis = m_service.redis();
    DashboardSnapshot s;
    s.region = m_region;
    s.reportKey = ReportCache::keyFor(m_region);
    s.limiterClient = m_client;
    s.limiterKey = SlidingWindowLimiter::keyFor(m_client);
    s.limit = m_service.limiter().limit();
    s.windowMs = m_service.limiter().window().count();
    s.freshTtlSeconds = m_service.cache().settings().ttl.count();
    s.computations = m_service.source().computations();
    s.computing = m_service.source().inFlight();
    s.redisState = stateName(redis.state());
    if (redis.isReady()) {
        RedisPendingReply ttl = redis.pttl(s.reportKey);
        RedisPendingReply entries = redis.command(
            {QByteArrayLiteral("ZRANGE"), s.limiterKey, "0", "-1", QByteArrayLiteral("WITHSCORES")});
        RedisPendingReply time = redis.time();
        const RedisReply ttlReply = co_await ttl;
        const RedisReply entriesReply = co_await entries;
        const RedisReply timeReply = co_await time;
        if (ttlReply.isInteger() && entriesReply.isArray() && timeReply.isArray()
            && timeReply.elements().size() == 2) {
            s.redisAnswered = true;
            s.reportPttlMs = ttlReply.toInteger();
            const auto &e = entriesReply.elements();
            for (size_t i = 1; i < e.size(); i += 2)
                s.limiterEntries.append(qint64(e[i].bytes().toDouble()));
            s.redisNowMs = timeReply.elements()[0].bytes().toLongLong() * 1000
                + timeReply.elements()[1].bytes().toLongLong() / 1000;
        }
    }
    m_polling = false;
    Q_EMIT snapshotReady(s);
}

} // namespace Cachedash
