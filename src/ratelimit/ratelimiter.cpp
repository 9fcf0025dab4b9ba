// SPDX-License-Identifier: GPL-3.0-or-later
#include "ratelimiter.h"

#include "ratelimitlogging.h"

#include "common/completion.h"
#include "redis/keyslot.h"
#include "redis/redisrouter.h"

#include <QRandomGenerator>

#include <utility>
#include <vector>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace Cachedash {

qint64 RateLimitDecision::retryAfterSeconds() const
{
    return std::max<qint64>(1, ceil<seconds>(nextSlot).count());
}

namespace {

constexpr int ReplyPerCheck = 3; // verdict (+binding admitted, -binding refused), remaining, wait_ms
constexpr int ReplyPerLimit = 7; // of a peek: used, remaining, next_slot_ms, retry_ms, 3 kept

} // namespace

RateLimiter::RateLimiter(RedisRouter &redis, QByteArray prefix, RateLimitPolicy policy)
    : m_redis(redis)
    , m_prefix(std::move(prefix))
    , m_scripts{RedisScript::fromFile(QStringLiteral(":/lua/ratelimit_sliding_log.lua")),
          RedisScript::fromFile(QStringLiteral(":/lua/ratelimit_gcra.lua")),
          RedisScript::fromFile(QStringLiteral(":/lua/ratelimit_window_counter.lua"))}
{
    for (const RedisScript &script : m_scripts) {
        Q_ASSERT_X(!script.isNull(), "RateLimiter", "the Lua script resources are missing");
        m_redis.registerScript(script);
    }
    // Members must be unique across every process sharing the Redis: a random instance prefix
    // plus a sequence number.
    m_memberPrefix = QByteArray::number(QRandomGenerator::system()->generate64(), 36) + ':';
    setPolicy(std::move(policy));
}

const RedisScript &RateLimiter::scriptFor(RateAlgorithm algorithm) const
{
    return m_scripts[int(algorithm)];
}

void RateLimiter::setPolicy(RateLimitPolicy policy)
{
    auto compiled = std::make_shared<Compiled>();
    compiled->header = policy.header();
    compiled->script = scriptFor(policy.algorithm);
    compiled->keysPerCheck = policy.algorithm == RateAlgorithm::SlidingLog ? 1 : int(policy.limits.size());
    compiled->limitArgs.append(QByteArray::number(policy.limits.size()));
    for (const RateLimit &l : std::as_const(policy.limits)) {
        compiled->limitArgs.append(QByteArray::number(l.limit));
        compiled->limitArgs.append(QByteArray::number(qint64(l.windowMs().count())));
    }
    compiled->policy = std::move(policy);
    m_compiled = std::move(compiled);
    // Checks asked from now on gather under the new policy; those gathered already keep theirs.
    m_batch.reset();
    m_slotBatches.clear();
    m_lastClient.clear();
    m_lastKeys.clear();
}

QByteArrayList RateLimiter::keysFor(
    const QString &client, RateAlgorithm algorithm, const QList<RateLimit> &limits) const
{
    const QByteArray id = client.toUtf8();
    if (algorithm == RateAlgorithm::SlidingLog)
        return {m_prefix + "sliding:" + id};
    // A hash tag: on a cluster all of a client's keys share its slot, and one script call.
    const QByteArray base
        = m_prefix + (algorithm == RateAlgorithm::Gcra ? "gcra:{" : "counter:{") + id + "}:";
    QByteArrayList keys;
    keys.reserve(limits.size());
    for (const RateLimit &l : limits)
        keys.append(base + l.text().toLatin1());
    return keys;
}

// The checks of one batch, and once the script has answered, its reply.
struct RateLimiter::Batch
{
    std::shared_ptr<const Compiled> compiled; // the policy the checks were asked under
    QByteArrayList keys; // keysPerCheck per check, in the order asked
    QByteArrayList args; // the script's ARGV, fixed when the batch starts
    int checks = 0;
    bool sent = false;
    detail::Completion<RedisReply> reply; // the script's, once it answered
};

void RateLimiter::send(RedisRouter &redis, const std::shared_ptr<Batch> &batch)
{
    if (!std::exchange(batch->sent, true))
        decide(redis, batch);
}

QCoro::Task<> RateLimiter::decide(RedisRouter &redis, std::shared_ptr<Batch> batch)
{
    QCoro::Task<RedisReply> pending = redis.evalScript(batch->compiled->script, batch->keys, batch->args);
    RedisReply reply = co_await pending;
    batch->reply.complete(std::move(reply));
}

std::shared_ptr<RateLimiter::Batch> &RateLimiter::slotBatch(const QByteArray &key)
{
    // One script call touches one slot. Batches already sent are dropped now and then.
    if (m_slotBatches.size() > 256)
        m_slotBatches.removeIf([](const auto &entry) { return entry.value()->sent; });
    return m_slotBatches[keySlot(key)];
}

inline std::shared_ptr<RateLimiter::Batch> RateLimiter::newBatch()
{
    auto batch = std::make_shared<Batch>();
    batch->compiled = m_compiled;
    batch->args = m_compiled->limitArgs;
    batch->args.append(m_memberPrefix + QByteArray::number(++m_sequence) + ':');
    return batch;
}

RateLimitDecision RateLimiter::failure(const RedisReply &reply, const Compiled &compiled)
{
    RateLimitDecision decision;
    decision.failed = true;
    decision.policy = compiled.header;
    ++m_counters.errors;
    // Shadow mode refuses nothing, not even when Redis cannot decide.
    decision.allowed = m_onError == OnError::Allow || compiled.policy.mode == RateLimitMode::Shadow;
    decision.limited = !decision.allowed;
    if (!compiled.policy.limits.isEmpty()) {
        const RateLimit &first = compiled.policy.limits.first();
        decision.limit = first.limit;
        decision.window = first.window;
        decision.remaining = decision.allowed ? first.limit : 0;
        decision.nextSlot = first.window;
    }
    decision.problem = reply.isOk()
        ? QStringLiteral("unexpected reply from the limiter script: ") + reply.toDebugString().left(200)
        : reply.errorText();
    // One line per outage, not one per request. On a cluster with one node down, decisions for
    // the other nodes' clients keep succeeding in between: the outage ends after a second without
    // failures.
    m_lastFailure = steady_clock::now();
    if (!std::exchange(m_failing, true))
        qCWarning(lcRateLimit).noquote() << "limiter unavailable, failing"
                                         << (decision.allowed ? "open" : "closed") << "-" << decision.problem;
    return decision;
}

QCoro::Task<RateLimitDecision> RateLimiter::check(QString client)
{
    if (m_compiled->policy.limits.isEmpty())
        co_return unlimited();
    // Under load most requests come from the client before: its keys are built once.
    if (client != m_lastClient) {
        m_lastKeys = keysFor(client);
        m_lastClient = client;
    }
    // Used before the first suspension only: m_lastKeys may change while this check waits.
    const QByteArray &key = m_lastKeys.first();
    std::shared_ptr<Batch> &gathering = m_redis.isCluster() ? slotBatch(key) : m_batch;
    if (!gathering || gathering->sent)
        gathering = newBatch();
    std::shared_ptr<Batch> batch = gathering;
    const int index = batch->checks++;
    if (m_lastKeys.size() == 1)
        batch->keys.append(key);
    else
        batch->keys.append(m_lastKeys);
    if (index == 0) {
        m_redis.beforeNextWrite(key, [&redis = m_redis, batch] { send(redis, batch); });
    } else if (batch->checks >= MaxBatch) {
        send(m_redis, batch);
        m_redis.flush(key);
    }
    detail::CompletionAwaiter<std::shared_ptr<Batch>, RedisReply> wait(batch, batch->reply);
    co_await wait;

    const Compiled &compiled = *batch->compiled;
    const RedisReply &reply = batch->reply.result();
    const auto &e = reply.elements();
    const size_t at = 1 + ReplyPerCheck * size_t(index);
    const bool valid = reply.isArray() && e.size() == 1 + ReplyPerCheck * size_t(batch->checks)
        && e[at].isInteger() && e[at + 1].isInteger() && e[at + 2].isInteger() && e[at].toInteger() != 0
        && std::abs(e[at].toInteger()) <= compiled.policy.limits.size();
    if (!valid)
        co_return failure(reply, compiled);
    if (m_failing && steady_clock::now() - m_lastFailure > 1s) {
        m_failing = false;
        qCInfo(lcRateLimit) << "limiter available again";
    }
    RateLimitDecision decision;
    decision.policy = compiled.header;
    decision.decidedAtUs = e[0].isInteger() ? e[0].toInteger() : 0;
    const qint64 verdict = e[at].toInteger();
    const RateLimit &binding = compiled.policy.limits[qsizetype(std::abs(verdict) - 1)];
    decision.limit = binding.limit;
    decision.window = binding.window;
    decision.limited = verdict < 0;
    decision.remaining = int(std::max<qint64>(0, e[at + 1].toInteger()));
    decision.nextSlot = milliseconds(std::max<qint64>(0, e[at + 2].toInteger()));
    if (!decision.limited) {
        ++m_counters.allowed;
    } else if (compiled.policy.mode == RateLimitMode::Shadow) {
        ++m_counters.shadowed;
    } else {
        ++m_counters.limited;
        decision.allowed = false;
    }
    co_return decision;
}

RateLimitDecision RateLimiter::unlimited()
{
    ++m_counters.exempt;
    RateLimitDecision decision;
    decision.exempt = true;
    return decision;
}

QCoro::Task<RateLimitDecision> RateLimiter::exempt()
{
    co_return unlimited();
}

QCoro::Task<RateLimitPeek> RateLimiter::peek(QString client)
{
    const std::shared_ptr<const Compiled> compiled = m_compiled;
    RateLimitPeek peek;
    peek.keys = keysFor(client);
    if (compiled->policy.limits.isEmpty())
        co_return peek;
    QByteArrayList args = compiled->limitArgs;
    args << QByteArray() << QByteArrayLiteral("peek");
    QCoro::Task<RedisReply> asking = m_redis.evalScript(compiled->script, peek.keys, args);
    const RedisReply reply = co_await asking;
    const auto &e = reply.elements();
    const qsizetype n = compiled->policy.limits.size();
    bool valid = reply.isArray() && e.size() == size_t(1 + ReplyPerLimit * n);
    for (size_t i = 0; valid && i < e.size(); ++i)
        valid = e[i].isInteger();
    if (!valid) {
        peek.failed = true;
        peek.problem = reply.isOk()
            ? QStringLiteral("unexpected reply from the limiter script: ") + reply.toDebugString().left(200)
            : reply.errorText();
        co_return peek;
    }
    peek.nowUs = e[0].toInteger();
    for (qsizetype j = 0; j < n; ++j) {
        const size_t at = 1 + ReplyPerLimit * size_t(j);
        RateLimitState state;
        state.limit = compiled->policy.limits[j];
        state.used = int(std::max<qint64>(0, e[at].toInteger()));
        state.remaining = int(std::max<qint64>(0, e[at + 1].toInteger()));
        state.nextSlot = milliseconds(std::max<qint64>(0, e[at + 2].toInteger()));
        state.retry = milliseconds(std::max<qint64>(0, e[at + 3].toInteger()));
        for (int k = 0; k < 3; ++k)
            state.kept[k] = e[at + 4 + size_t(k)].toInteger();
        peek.limits.append(state);
    }
    co_return peek;
}

QCoro::Task<RateLimiter::ResetResult> RateLimiter::reset(QString client)
{
    // Every algorithm's keys for the limits now: a client limited before a reload to another
    // algorithm is forgotten too. On a cluster the sliding log's key lives in another slot than
    // the others: one DEL each.
    QByteArrayList keys;
    for (RateAlgorithm a :
        {RateAlgorithm::SlidingLog, RateAlgorithm::Gcra, RateAlgorithm::SlidingWindowCounter})
        keys += keysFor(client, a, policy().limits);
    std::vector<RedisPendingReply> deleting;
    for (const QByteArray &key : std::as_const(keys))
        deleting.push_back(m_redis.del(key));
    ResetResult result;
    for (RedisPendingReply &pending : deleting) {
        const RedisReply reply = co_await pending;
        if (!reply.isInteger()) {
            result.failed = true;
            result.problem = reply.isOk() ? reply.toDebugString().left(200) : reply.errorText();
        } else {
            result.deleted += int(reply.toInteger());
        }
    }
    if (!result.failed)
        qCInfo(lcRateLimit).noquote() << "reset the limits of" << client << "under" << m_prefix;
    co_return result;
}

void RateLimiter::writeSamples(MetricsWriter &out, QByteArrayView route) const
{
    const std::pair<const char *, quint64> samples[] = {
        {"allowed", m_counters.allowed},
        {"limited", m_counters.limited},
        {"shadowed", m_counters.shadowed},
        {"error", m_counters.errors},
        {"exempt", m_counters.exempt},
    };
    for (const auto &[decision, value] : samples)
        out.sample("cachedash_ratelimit_decisions_total",
            QByteArray(
                MetricsWriter::label("route", route) + ',' + MetricsWriter::label("decision", decision)),
            double(value));
}

} // namespace Cachedash
