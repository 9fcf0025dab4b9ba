// SPDX-License-Identifier: GPL-3.0-or-later
#include "slidingwindowlimiter.h"

#include "ratelimitlogging.h"

#include "common/completion.h"
#include "redis/keyslot.h"
#include "redis/redisrouter.h"

#include <QRandomGenerator>

#include <utility>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace Cachedash {

qint64 RateLimitDecision::retryAfterSeconds() const
{
    return std::max<qint64>(1, ceil<seconds>(nextSlot).count());
}

SlidingWindowLimiter::SlidingWindowLimiter(RedisRouter &redis, int limit, milliseconds window)
    : m_redis(redis)
    , m_script(RedisScript::fromFile(QStringLiteral(":/lua/sliding_window.lua")))
    , m_peekScript(RedisScript::fromFile(QStringLiteral(":/lua/sliding_window_peek.lua")))
    , m_limit(limit)
    , m_window(window)
{
    Q_ASSERT_X(!m_script.isNull() && !m_peekScript.isNull(), "SlidingWindowLimiter",
        "the Lua script resources are missing");
    m_redis.registerScript(m_script);
    m_redis.registerScript(m_peekScript);
    // Members must be unique across every process sharing the Redis: a random instance prefix
    // plus a sequence number.
    m_memberPrefix = QByteArray::number(QRandomGenerator::system()->generate64(), 36) + ':';
    updatePolicy();
}

QByteArray SlidingWindowLimiter::keyFor(const QString &client)
{
    return QByteArrayLiteral("rate:sliding:") + client.toUtf8();
}

void SlidingWindowLimiter::updatePolicy()
{
    m_policy = QByteArray::number(m_limit)
        + ";w=" + QByteArray::number(qint64(duration_cast<seconds>(m_window).count()));
}

// The checks of one batch, and once the script has answered, its reply.
struct SlidingWindowLimiter::Batch
{
    QByteArrayList keys; // one per check, in the order asked
    QByteArrayList args; // the script's ARGV, fixed when the batch starts
    int limit = 0;
    bool sent = false;
    detail::Completion<RedisReply> reply; // the script's, once it answered
};

void SlidingWindowLimiter::send(
    RedisRouter &redis, const RedisScript &script, const std::shared_ptr<Batch> &batch)
{
    if (!std::exchange(batch->sent, true))
        decide(redis, script, batch);
}

QCoro::Task<> SlidingWindowLimiter::decide(
    RedisRouter &redis, RedisScript script, std::shared_ptr<Batch> batch)
{
    QCoro::Task<RedisReply> pending = redis.evalScript(script, batch->keys, batch->args);
    RedisReply reply = co_await pending;
    batch->reply.complete(std::move(reply));
}

std::shared_ptr<SlidingWindowLimiter::Batch> &SlidingWindowLimiter::slotBatch(const QByteArray &key)
{
    // One script call touches one slot. Batches already sent are dropped now and then.
    if (m_slotBatches.size() > 256)
        m_slotBatches.removeIf([](const auto &entry) { return entry.value()->sent; });
    return m_slotBatches[keySlot(key)];
}

inline std::shared_ptr<SlidingWindowLimiter::Batch> SlidingWindowLimiter::newBatch()
{
    auto batch = std::make_shared<Batch>();
    batch->limit = m_limit;
    batch->args = {QByteArray::number(qint64(m_window.count())), QByteArray::number(m_limit),
        m_memberPrefix + QByteArray::number(++m_sequence) + ':'};
    return batch;
}

QCoro::Task<RateLimitDecision> SlidingWindowLimiter::check(QString client)
{
    // Under load most requests come from the client before: its key is built once.
    if (client != m_lastClient) {
        m_lastKey = keyFor(client);
        m_lastClient = client;
    }
    // Used before the first suspension only: m_lastKey may change while this check waits.
    const QByteArray &key = m_lastKey;
    std::shared_ptr<Batch> &gathering = m_redis.isCluster() ? slotBatch(key) : m_batch;
    if (!gathering || gathering->sent)
        gathering = newBatch();
    std::shared_ptr<Batch> batch = gathering;
    const qsizetype index = batch->keys.size();
    batch->keys.append(key);
    if (index == 0) {
        m_redis.beforeNextWrite(
            key, [&redis = m_redis, script = m_script, batch] { send(redis, script, batch); });
    } else if (batch->keys.size() >= MaxBatch) {
        send(m_redis, m_script, batch);
        m_redis.flush(key);
    }
    detail::CompletionAwaiter<std::shared_ptr<Batch>, RedisReply> wait(batch, batch->reply);
    co_await wait;

    const int limit = batch->limit;
    const RedisReply &reply = batch->reply.result();
    const auto &e = reply.elements();
    const size_t at = 1 + 3 * size_t(index);
    const bool valid = reply.isArray() && e.size() == 1 + 3 * size_t(batch->keys.size()) && e[at].isInteger()
        && e[at + 1].isInteger() && e[at + 2].isInteger();
    RateLimitDecision decision;
    decision.limit = limit;
    if (!valid) {
        decision.failed = true;
        ++m_counters.errors;
        decision.allowed = m_onError == OnError::Allow;
        decision.remaining = decision.allowed ? limit : 0;
        decision.nextSlot = m_window;
        decision.problem = reply.isOk()
            ? QStringLiteral("unexpected reply from the limiter script: ") + reply.toDebugString().left(200)
            : reply.errorText();
        // One line per outage, not one per request. On a cluster with one node down, decisions
        // for the other nodes' clients keep succeeding in between: the outage ends after a
        // second without failures.
        m_lastFailure = steady_clock::now();
        if (!std::exchange(m_failing, true))
            qCWarning(lcRateLimit).noquote()
                << "limiter unavailable, failing" << (decision.allowed ? "open" : "closed") << "-"
                << decision.problem;
        co_return decision;
    }
    if (m_failing && steady_clock::now() - m_lastFailure > 1s) {
        m_failing = false;
        qCInfo(lcRateLimit) << "limiter available again";
    }
    decision.allowed = e[at].toInteger() == 1;
    ++(decision.allowed ? m_counters.allowed : m_counters.limited);
    decision.remaining = int(std::max<qint64>(0, e[at + 1].toInteger()));
    decision.nextSlot = milliseconds(std::max<qint64>(0, e[at + 2].toInteger()));
    co_return decision;
}

QCoro::Task<RateLimitDecision> SlidingWindowLimiter::exempt()
{
    ++m_counters.exempt;
    RateLimitDecision decision;
    decision.exempt = true;
    co_return decision;
}

QCoro::Task<RateLimitState> SlidingWindowLimiter::peek(QString client)
{
    RateLimitState state;
    state.limit = m_limit;
    state.window = m_window;
    QCoro::Task<RedisReply> asking
        = m_redis.evalScript(m_peekScript, {keyFor(client)}, {QByteArray::number(qint64(m_window.count()))});
    const RedisReply reply = co_await asking;
    const auto &e = reply.elements();
    if (!reply.isArray() || e.size() != 3 || !e[1].isInteger() || !e[2].isInteger()) {
        state.failed = true;
        state.problem = reply.isOk()
            ? QStringLiteral("unexpected reply from the peek script: ") + reply.toDebugString().left(200)
            : reply.errorText();
        co_return state;
    }
    state.used = int(std::max<qint64>(0, e[1].toInteger()));
    state.remaining = std::max(0, state.limit - state.used);
    state.nextSlot = milliseconds(std::max<qint64>(0, e[2].toInteger()));
    co_return state;
}

QCoro::Task<SlidingWindowLimiter::ResetResult> SlidingWindowLimiter::reset(QString client)
{
    RedisPendingReply deleting = m_redis.del(keyFor(client));
    const RedisReply reply = co_await deleting;
    ResetResult result;
    if (!reply.isInteger()) {
        result.failed = true;
        result.problem = reply.isOk() ? reply.toDebugString().left(200) : reply.errorText();
        co_return result;
    }
    result.existed = reply.toInteger() > 0;
    qCInfo(lcRateLimit).noquote() << "reset the window of" << client;
    co_return result;
}

void SlidingWindowLimiter::writeMetrics(MetricsWriter &out) const
{
    out.family("cachedash_ratelimit_decisions_total", "counter",
        "Limiter decisions: allowed, limited, error (Redis could not decide), or exempt (not asked).");
    out.sample("cachedash_ratelimit_decisions_total", "decision=\"allowed\"", double(m_counters.allowed));
    out.sample("cachedash_ratelimit_decisions_total", "decision=\"limited\"", double(m_counters.limited));
    out.sample("cachedash_ratelimit_decisions_total", "decision=\"error\"", double(m_counters.errors));
    out.sample("cachedash_ratelimit_decisions_total", "decision=\"exempt\"", double(m_counters.exempt));
}

} // namespace Cachedash
