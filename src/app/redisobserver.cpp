// SPDX-License-Identifier: GPL-3.0-or-later
#include "redisobserver.h"

#include "applogging.h"

#include "cache/reportcache.h"
#include "cache/reportsource.h"
#include "ratelimit/ratelimiter.h"
#include "ratelimit/ratelimits.h"
#include "redis/redisrouter.h"
#include "redis/redissubscriber.h"
#include "service/redisserverprocess.h"
#include "service/service.h"

#include <QPointer>

#include <optional>

using namespace std::chrono;

namespace Cachedash {

namespace {
QString stateName(const RedisRouter &redis)
{
    if (redis.isReady())
        return QStringLiteral("up");
    if (redis.mode() == RedisRouter::Mode::Unknown)
        return QStringLiteral("connecting");
    const QList<RedisRouter::Node> nodes = redis.nodes();
    if (nodes.size() > 1) {
        const auto up = std::count_if(nodes.begin(), nodes.end(), [](const auto &node) { return node.up; });
        return QStringLiteral("%1 of %2 primaries up").arg(up).arg(nodes.size());
    }
    return QStringLiteral("down");
}
} // namespace

RedisObserver::RedisObserver(Service &service, QObject *parent)
    : QObject(parent)
    , m_service(service)
{
    m_timer.setInterval(100);
    connect(&m_timer, &QTimer::timeout, this, [this] { poll(); });
    m_timer.start();
    connect(&m_service.redis(), &RedisRouter::topologyChanged, this, &RedisObserver::followReportNode);
    followReportNode();
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

void RedisObserver::followReportNode()
{
    const QString node = m_service.redis().nodeFor(ReportCache::keyFor(m_region));
    if (node.isEmpty() || node == m_listenedNode)
        return;
    m_listenedNode = node;
    m_subscriber.reset();
    enableNotifications(node);
}

QCoro::Task<> RedisObserver::enableNotifications(QString node)
{
    // Keyspace notifications for report keys: K (keyspace channel), g (DEL, EXPIRE), x (expired),
    // $ (SET). The server's other flags are kept. A server that refuses CONFIG (managed Redis, ACLs)
    // is simply polled.
    QPointer<RedisObserver> self(this);
    RedisRouter &redis = m_service.redis();
    const QByteArray at = ReportCache::keyFor(m_region);
    const QByteArrayList get{
        QByteArrayLiteral("CONFIG"), QByteArrayLiteral("GET"), QByteArrayLiteral("notify-keyspace-events")};
    RedisPendingReply current = redis.command(at, get);
    const RedisReply flags = co_await current;
    if (!self || node != m_listenedNode)
        co_return;
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
        const QByteArrayList set{QByteArrayLiteral("CONFIG"), QByteArrayLiteral("SET"),
            QByteArrayLiteral("notify-keyspace-events"), wanted};
        RedisPendingReply setting = redis.command(at, set);
        const RedisReply done = co_await setting;
        if (!self || node != m_listenedNode)
            co_return;
        if (!done.isOk()) {
            qCInfo(lcApp, "keyspace notifications unavailable (%s); polling Redis instead",
                qPrintable(done.errorText().simplified()));
            co_return;
        }
        // A server shared with others: say so once, and put the old value back on exit. A private
        // redis-server is the window's own.
        const QByteArray before = flags.elements()[1].bytes();
        m_changed.append({at, node, before, wanted});
        if (!m_service.privateRedis()) {
            m_changeNote = tr("Set notify-keyspace-events on %1 to \"%2\" (it was \"%3\") so that the TTL "
                              "shows changes at once; the old value is put back when the window closes.")
                               .arg(node, QString::fromLatin1(wanted), QString::fromLatin1(before));
            qCInfo(lcApp).noquote() << m_changeNote;
        }
    }
    m_channelPrefix = QByteArrayLiteral("__keyspace@") + QByteArray::number(redis.url().database)
        + QByteArrayLiteral("__:");
    // The node's own address, with the service's credentials and database.
    RedisUrl url = redis.url();
    const qsizetype colon = node.lastIndexOf(u':');
    if (url.transport == RedisUrl::Transport::Tcp && colon > 0) {
        QString host = node.left(colon);
        if (host.startsWith(u'[') && host.endsWith(u']'))
            host = host.mid(1, host.size() - 2);
        url = url.withAddress(RedisUrl::Address{host, quint16(node.mid(colon + 1).toUInt())});
    }
    m_subscriber = std::make_unique<RedisSubscriber>(url, redis.options().client.tls);
    connect(m_subscriber.get(), &RedisSubscriber::message, this,
        [this](
            const QByteArray &, const QByteArray &channel, const QByteArray &) { onNotification(channel); });
    // Whatever changed while nobody listened (a new node, a reconnect) is read once subscribed.
    connect(m_subscriber.get(), &RedisSubscriber::subscribedChanged, this, [this](bool subscribed) {
        if (subscribed)
            pollSoon();
    });
    m_subscriber->psubscribe(m_channelPrefix + QByteArrayLiteral("report:*"));
    m_subscriber->open();
}

QCoro::Task<> RedisObserver::restoreNotifications()
{
    RedisRouter &redis = m_service.redis();
    for (const Changed &c : std::exchange(m_changed, {})) {
        const QByteArrayList get{QByteArrayLiteral("CONFIG"), QByteArrayLiteral("GET"),
            QByteArrayLiteral("notify-keyspace-events")};
        RedisPendingReply reading = redis.command(c.key, get);
        const RedisReply now = co_await reading;
        // Someone else changed it since: theirs stays.
        if (!now.isArray() || now.elements().size() != 2 || now.elements()[1].bytes() != c.after)
            continue;
        RedisPendingReply setting = redis.command(c.key,
            {QByteArrayLiteral("CONFIG"), QByteArrayLiteral("SET"),
                QByteArrayLiteral("notify-keyspace-events"), c.before});
        const RedisReply done = co_await setting;
        if (done.isOk())
            qCInfo(lcApp).noquote() << "put notify-keyspace-events back to" << ('"' + c.before + '"') << "on"
                                    << c.node;
    }
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
    followReportNode();
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
    RedisRouter &redis = m_service.redis();
    DashboardSnapshot s;
    s.region = m_region;
    s.reportKey = ReportCache::keyFor(m_region);
    s.limiterClient = m_client;
    RateLimiter &limiter = m_service.rateLimits().reports();
    s.algorithm = limiter.policy().algorithm;
    s.limiterKeys = limiter.keysFor(m_client);
    s.limiterKey = s.limiterKeys.first();
    // The sliding log's entries are read from its sorted set; the other algorithms keep no
    // entries, only what the peek below reads.
    const bool log = s.algorithm == RateAlgorithm::SlidingLog;
    // The first limit of the report route (the window draws one lane so far).
    const RateLimit &first = m_service.rateLimits().reports().policy().limits.first();
    s.limit = first.limit;
    s.windowMs = first.windowMs().count();
    s.freshTtlSeconds = m_service.cache().settings().ttl.count();
    s.computations = m_service.source().computations();
    s.computing = m_service.source().inFlight();
    s.redisState = stateName(redis);
    s.redisMode = redis.describe();
    s.redisTransport = redis.transport();
    s.reportNode = redis.nodeFor(s.reportKey);
    s.limiterNode = redis.nodeFor(s.limiterKey);
    if (redis.mode() != RedisRouter::Mode::Unknown) {
        QPointer<RedisObserver> self(this);
        RedisPendingReply ttl = redis.pttl(s.reportKey);
        // The oldest entry (it leaves next) and the newest hundred: a permissive limiter under load
        // can hold hundreds of thousands, and neither Redis nor the picture needs them all.
        const QByteArray &key = s.limiterKey;
        std::optional<RedisPendingReply> count, oldest, newest;
        if (log) {
            count = redis.command(key, {QByteArrayLiteral("ZCARD"), key});
            oldest = redis.command(
                key, {QByteArrayLiteral("ZRANGE"), key, "0", "0", QByteArrayLiteral("WITHSCORES")});
            newest = redis.command(
                key, {QByteArrayLiteral("ZRANGE"), key, "-100", "-1", QByteArrayLiteral("WITHSCORES")});
        }
        // The limiter decides with its node's clock: the picture uses the same.
        RedisPendingReply time = redis.command(key, {QByteArrayLiteral("TIME")});
        QCoro::Task<RateLimitPeek> peeking = limiter.peek(m_client);
        const RedisReply ttlReply = co_await ttl;
        RedisReply countReply = RedisReply::integer(0);
        RedisReply oldestReply = RedisReply::array({});
        RedisReply newestReply = RedisReply::array({});
        if (log) {
            countReply = co_await *count;
            oldestReply = co_await *oldest;
            newestReply = co_await *newest;
        }
        const RedisReply timeReply = co_await time;
        const RateLimitPeek peek = co_await peeking;
        if (!self)
            co_return;
        if (!peek.failed) {
            s.limits = peek.limits;
            s.limitsReadAtUs = peek.nowUs;
        }
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
    s.notice = std::exchange(m_changeNote, QString());
    Q_EMIT snapshotReady(s);
    if (std::exchange(m_pollAgain, false))
        pollSoon();
}

} // namespace Cachedash
