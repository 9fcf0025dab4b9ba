// SPDX-License-Identifier: GPL-3.0-or-later
#include "slidingwindowlimiter.h"

#include "redisclient.h"

#include <QRandomGenerator>

Q_LOGGING_CATEGORY(lcRateLimit, "cachedash.ratelimit", QtInfoMsg)

using namespace std::chrono;

namespace Cachedash {

qint64 RateLimitDecision::retryAfterSeconds() const
{
    const qint64 ms = nextSlot.count();
    return std::max<qint64>(1, (ms + 999) / 1000);
}

SlidingWindowLimiter::SlidingWindowLimiter(RedisClient &redis, int limit, milliseconds window)
    : m_redis(redis)
    , m_script(RedisScript::fromFile(QStringLiteral(":/lua/sliding_window.lua")))
    , m_limit(limit)
    , m_window(window)
{
    Q_ASSERT_X(!m_script.isNull(), "SlidingWindowLimiter", "the Lua script resource is missing");
    // Members must be unique across every process sharing the Redis: a random instance prefix
    // plus a sequence number.
    m_memberPrefix = QByteArray::number(QRandomGenerator::system()->generate64(), 36) + ':';
}

QByteArray SlidingWindowLimiter::keyFor(const QString &client)
{
    return QByteArrayLiteral("rate:sliding:") + client.toUtf8();
}

QByteArray SlidingWindowLimiter::policy() const
{
    return QByteArray::number(m_limit)
        + ";w=" + QByteArray::number(qint64(duration_cast<seconds>(m_window).count()));
}

QCoro::Task<RateLimitDecision> SlidingWindowLimiter::check(QString client)
{
    const int limit = m_limit;
    QByteArrayList keys{keyFor(client)};
    QByteArrayList args{QByteArray::number(qint64(m_window.count())), QByteArray::number(limit),
        m_memberPrefix + QByteArray::number(++m_sequence)};
    QCoro::Task<RedisReply> pending = m_redis.evalScript(m_script, std::move(keys), std::move(args));
    const RedisReply reply = co_await pending;

    RateLimitDecision decision;
    decision.limit = limit;
    const auto &e = reply.elements();
    if (!reply.isArray() || e.size() != 4 || !e[0].isInteger() || !e[1].isInteger() || !e[2].isInteger()) {
        decision.failed = true;
        ++m_counters.errors;
        decision.allowed = m_onError == OnError::Allow;
        decision.remaining = decision.allowed ? limit : 0;
        decision.nextSlot = m_window;
        decision.problem = reply.isOk()
            ? QStringLiteral("unexpected reply from the limiter script: ") + reply.toDebugString()
            : reply.errorText();
        // One line per outage, not one per request.
        if (!std::exchange(m_failing, true))
            qCWarning(lcRateLimit).noquote()
                << "limiter unavailable, failing" << (decision.allowed ? "open" : "closed") << "-"
                << decision.problem;
        co_return decision;
    }
    if (std::exchange(m_failing, false))
        qCInfo(lcRateLimit) << "limiter available again";
    decision.allowed = e[0].toInteger() == 1;
    ++(decision.allowed ? m_counters.allowed : m_counters.limited);
    decision.remaining = int(std::max<qint64>(0, e[1].toInteger()));
    decision.nextSlot = milliseconds(std::max<qint64>(0, e[2].toInteger()));
    co_return decision;
}

} // namespace Cachedash
