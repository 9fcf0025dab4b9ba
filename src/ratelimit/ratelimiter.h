// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "ratelimitpolicy.h"

#include "common/metrics.h"
#include "redis/redisscript.h"

#include <QByteArray>
#include <QByteArrayList>
#include <QHash>
#include <QString>

#include <qcoro/qcorotask.h>

#include <chrono>
#include <memory>

namespace Cachedash {

class RedisRouter;
class RedisReply;

// The limiter's answer for one request.
struct RateLimitDecision
{
    bool allowed = true; // serve it (in shadow mode, always)
    bool limited = false; // a limit refused it: a 429, or in shadow mode what would have been one
    bool failed = false; // Redis could not decide; `allowed` then follows the failure policy
    bool exempt = false; // not limited: the client is exempt, or the route has no limit
    int limit = 0; // the limit that speaks for the request (the binding one)
    std::chrono::seconds window{0}; // and its window
    int remaining = 0; // requests the binding limit still admits
    // When admitted: until the binding limit frees a slot (0: none used). When refused: until
    // every limit admits again, the Retry-After.
    std::chrono::milliseconds nextSlot{0};
    QByteArray policy; // the RateLimit-Policy header of the policy that decided
    qint64 decidedAtUs = 0; // when Redis decided, by its clock (µs since the epoch); 0 if it did not
    QString problem; // when failed

    // Whole seconds, rounded up: a client that waits this long is admitted.
    qint64 retryAfterSeconds() const;
};

// One limit's state for a client, read without spending anything (GET /ratelimit/{client}).
struct RateLimitState
{
    RateLimit limit;
    int used = 0; // requests the limit counts now (for the estimating algorithms, limit - remaining)
    int remaining = 0;
    std::chrono::milliseconds nextSlot{0}; // until one more request is admissible (0: all are)
    std::chrono::milliseconds retry{0}; // until a request is admitted (0: one is now)
    // What the algorithm keeps. sliding-log: {entries in the set, 0, 0}; gcra: {how far the TAT is
    // ahead of now, the emission interval T, the tolerance tau}, in microseconds;
    // sliding-window-counter: {current window's count, previous window's count, ms elapsed in the
    // current window}.
    qint64 kept[3] = {0, 0, 0};
};

struct RateLimitPeek
{
    bool failed = false; // Redis could not answer: `problem` says why
    QString problem;
    qint64 nowUs = 0; // the moment read, by the Redis clock
    QByteArrayList keys;
    QList<RateLimitState> limits;
};

// A route's rate limiter: every limit of its policy must admit a request, decided atomically in
// Redis by the policy's algorithm (resources/lua/ratelimit_*.lua) on the Redis clock.
//
// The checks asked during one turn of the event loop travel as one batch: one script call decides
// for all of them, in order, just before the client writes its commands (see
// RedisRouter::beforeNextWrite()), or as soon as MaxBatch have gathered. Under load that is one
// call for up to 16 requests instead of one each; a lone request still shares the write, and the
// round trip, with its cache read. On a Redis Cluster a script's keys must share one slot: a
// client's keys do (the sliding log has one; the others carry the client as a hash tag), and the
// checks gather in one batch per slot, each leaving with the write of its slot's node.
//
// A new policy (setPolicy()) applies to every check asked after it; checks already gathered are
// decided by the policy they were asked under, whole.
class RateLimiter
{
public:
    enum class OnError { Allow, Deny };

    // `prefix` starts every key: "rate:" for the report route, "rate:refresh:" for refreshes.
    RateLimiter(RedisRouter &redis, QByteArray prefix, RateLimitPolicy policy);

    const RateLimitPolicy &policy() const { return m_compiled->policy; }
    void setPolicy(RateLimitPolicy policy);
    OnError onError() const { return m_onError; }
    void setOnError(OnError policy) { m_onError = policy; }
    const QByteArray &prefix() const { return m_prefix; }
    // The report route's sliding-log key of `client`: rate:sliding:<client>.
    static QByteArray keyFor(const QString &client)
    {
        return QByteArrayLiteral("rate:sliding:") + client.toUtf8();
    }

    // The keys of `client` under `algorithm`: rate:sliding:<client> (one for every limit),
    // rate:gcra:{<client>}:<limit> and rate:counter:{<client>}:<limit> (one per limit).
    QByteArrayList keysFor(
        const QString &client, RateAlgorithm algorithm, const QList<RateLimit> &limits) const;
    QByteArrayList keysFor(const QString &client) const
    {
        return keysFor(client, policy().algorithm, policy().limits);
    }

    // Decides for one request of `client` (an address). The decision leaves with the next write
    // of the Redis client, so a command issued right after shares its round trip. Without limits,
    // decides at once: exempt.
    QCoro::Task<RateLimitDecision> check(QString client);
    // The decision for a client exempt from limiting (--rate-limit-exempt): allowed, and neither
    // counted in Redis nor asked of it.
    QCoro::Task<RateLimitDecision> exempt();
    // Reads `client`'s state for every limit without admitting anything.
    QCoro::Task<RateLimitPeek> peek(QString client);
    // Forgets `client` under every algorithm: its next request starts afresh.
    struct ResetResult
    {
        bool failed = false; // Redis could not answer: `problem` says why
        QString problem;
        int deleted = 0; // keys there were to forget
    };
    QCoro::Task<ResetResult> reset(QString client);

    // A batch this full leaves at once, and the Redis client writes it (with the commands issued
    // alongside) without waiting for the end of the turn: Redis works on it while the service
    // reads the next requests.
    static constexpr int MaxBatch = 16;

    struct Counters
    {
        quint64 allowed = 0;
        quint64 limited = 0; // refused with 429
        quint64 shadowed = 0; // would have been refused, served in shadow mode
        quint64 errors = 0; // Redis could not decide (the failure policy decided)
        quint64 exempt = 0; // exempt clients, never asked
    };
    const Counters &counters() const { return m_counters; }
    // cachedash_ratelimit_decisions_total{route, decision}: allowed, limited, shadowed, error, exempt.
    void writeSamples(MetricsWriter &out, QByteArrayView route) const;

private:
    // A policy as the scripts take it: compiled once, shared by the batches asked under it.
    struct Compiled
    {
        RateLimitPolicy policy;
        QByteArray header; // RateLimit-Policy
        RedisScript script;
        QByteArrayList limitArgs; // L, N_1, W_1, ...
        int keysPerCheck = 1;
    };
    struct Batch;
    static QCoro::Task<> decide(RedisRouter &redis, std::shared_ptr<Batch> batch);
    static void send(RedisRouter &redis, const std::shared_ptr<Batch> &batch);
    // On a cluster: where the batch gathering checks for `key`'s slot is kept.
    std::shared_ptr<Batch> &slotBatch(const QByteArray &key);
    std::shared_ptr<Batch> newBatch();
    RateLimitDecision failure(const RedisReply &reply, const Compiled &compiled);
    // Allowed without asking Redis (an exempt client, a route without limits), and counted so.
    RateLimitDecision unlimited();
    const RedisScript &scriptFor(RateAlgorithm algorithm) const;

    RedisRouter &m_redis;
    QByteArray m_prefix;
    RedisScript m_scripts[3]; // by RateAlgorithm
    std::shared_ptr<const Compiled> m_compiled;
    OnError m_onError = OnError::Allow;
    QByteArray m_memberPrefix;
    quint64 m_sequence = 0; // batches sent
    std::shared_ptr<Batch> m_batch; // the batch still gathering checks, if any
    QHash<int, std::shared_ptr<Batch>> m_slotBatches; // on a cluster: per slot
    QString m_lastClient; // and its keys, keysFor(m_lastClient)
    QByteArrayList m_lastKeys;
    bool m_failing = false;
    std::chrono::steady_clock::time_point m_lastFailure;
    Counters m_counters;
};

} // namespace Cachedash
