// SPDX-License-Identifier: GPL-3.0-or-later
#include "redisobserver.h"

#include "applogging.h"

#include "cache/reportcache.h"
#include "cache/reportsource.h"
#include "ratelimit/slidingwindowlimiter.h"
#include "redis/redisclient.h"
#include "redis/redissubscriber.h"
#include "service/service.h"

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
    enableNotifications();
}

RedisObserver::~RedisObserver() = default;

void RedisObserver::setPollInterval(milliseconds interval)
{
    m_timer.setInterval(interval);
}

bool RedisObserver::notificationsActive() const
{
    return m_subscriber && m_subscriber->isSubscribed();
}

QCoro::Task<> RedisObserver::enableNotifications()
{
    // Keyspace notifications for report keys: K (keyspace channel), g (DEL, EXPIRE), x (expired),
    // $ (SET). The server's other flags are kept. A server that refuses CONFIG (managed Redis, ACLs)
    // is simply polled.
    RedisClient &redis = m_service.redis();
    RedisPendingReply current = redis.configGet(QByteArrayLiteral("notify-keyspace-events"));
    const RedisReply flags = co_await current;
    if (!flags.isArray() || flags.elements().size() != 2) {
        qCInfo(lcApp, "keyspace notifications unavailable (%s); polling Redis instead",
            qPrintable(flags.errorText().simplified()));
        co_return;
    }
    QByteArray wanted = flags.elements()[1].bytes();
    const bool all = wanted.contains('A');
    for (char flag : {'K', 'g', 'x', '$'}) {
        if (!wanted.contains(flag) && !(all && flag != 'K'))
            wanted += flag;
    }
    if (wanted != flags.elements()[1].bytes()) {
        RedisPendingReply set = redis.configSet(QByteArrayLiteral("notify-keyspace-events"), wanted);
        const RedisReply done = co_await set;
        if (!done.isOk()) {
            qCInfo(lcApp, "keyspace notifications unavailable (%s); polling Redis instead",
                qPrintable(done.errorText().simplified()));
            co_return;
        }
    }
    m_channelPrefix = QByteArrayLiteral("__keyspace@") + QByteArray::number(redis.url().database)
        + QByteArrayLiteral("__:");
    m_subscriber = std::make_unique<RedisSubscriber>(redis.url());
    connect(m_subscriber.get(), &RedisSubscriber::message, this,
        [this](
            const QByteArray &, const QByteArray &channel, const QByteArray &) { onNotification(channel); });
    m_subscriber->psubscribe(m_channelPrefix + QByteArrayLiteral("report:*"));
    m_subscriber->open();
}

void RedisObserver::onNotification(const QByteArray &channel)
{
    if (channel.size() > m_channelPrefix.size()
        && channel.mid(m_channelPrefix.size()) == ReportCache::keyFor(m_region))
        pollSoon();
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
    if (m_polling) {
        // What changed may have been read already: read again once this poll is done.
        m_pollAgain = true;
        co_return;
    }
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
        // The oldest entry (it leaves next) and the newest hundred: a permissive limiter under load
        // can hold hundreds of thousands, and neither Redis nor the picture needs them all.
        RedisPendingReply count = redis.command({QByteArrayLiteral("ZCARD"), s.limiterKey});
        RedisPendingReply oldest = redis.command(
            {QByteArrayLiteral("ZRANGE"), s.limiterKey, "0", "0", QByteArrayLiteral("WITHSCORES")});
        RedisPendingReply newest = redis.command(
            {QByteArrayLiteral("ZRANGE"), s.limiterKey, "-100", "-1", QByteArrayLiteral("WITHSCORES")});
        RedisPendingReply time = redis.time();
        const RedisReply ttlReply = co_await ttl;
        const RedisReply countReply = co_await count;
        const RedisReply oldestReply = co_await oldest;
        const RedisReply newestReply = co_await newest;
        const RedisReply timeReply = co_await time;
        if (ttlReply.isInteger() && countReply.isInteger() && oldestReply.isArray() && newestReply.isArray()
            && timeReply.isArray() && timeReply.elements().size() == 2) {
            s.redisAnswered = true;
            s.reportPttlMs = ttlReply.toInteger();
            s.limiterCount = countReply.toInteger();
            auto scores = [](const RedisReply &reply) {
                QList<qint64> out;
                const auto &e = reply.elements();
                for (size_t i = 1; i < e.size(); i += 2)
                    out.append(qint64(e[i].bytes().toDouble()));
                return out;
            };
            s.limiterEntries = scores(newestReply);
            const QList<qint64> first = scores(oldestReply);
            if (s.limiterCount > s.limiterEntries.size() && !first.isEmpty())
                s.limiterEntries.prepend(first.first());
            s.redisNowMs = timeReply.elements()[0].bytes().toLongLong() * 1000
                + timeReply.elements()[1].bytes().toLongLong() / 1000;
        }
    }
    m_polling = false;
    Q_EMIT snapshotReady(s);
    if (std::exchange(m_pollAgain, false))
        pollSoon();
}

} // namespace Cachedash
