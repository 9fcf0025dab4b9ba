// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "common/metrics.h"
#include "redis/redisscript.h"

#include <QByteArray>
#include <QHash>
#include <QString>

#include <qcoro/qcorotask.h>

#include <chrono>
#include <memory>
#include <vector>

namespace Cachedash {

class RedisRouter;

// The limiter's answer for one request.
struct RateLimitDecision
{
    bool allowed = true;
    bool failed = false; // Redis could not decide; `allowed` then follows the failure policy
    bool exempt = false; // the client is exempt: not limited, not counted, no limit to speak of
    int limit = 0;
    int remaining = 0;
    std::chrono::milliseconds nextSlot{0}; // until a slot frees: the Retry-After when rejected
    QString problem; // when failed

    // Whole seconds, rounded up: a client that waits this long is admitted.
    qint64 retryAfterSeconds() const;
};

// A client's window as it stands, read without spending anything (GET /ratelimit/{client}).
struct RateLimitState
{
    bool failed = false; // Redis could not answer: `problem` says why
    QString problem;
    int limit = 0;
    std::chrono::milliseconds window{0};
    int used = 0; // requests admitted in the window now
    int remaining = 0;
    std::chrono::milliseconds nextSlot{0}; // until the oldest of them leaves the window; 0: none
};

// A sliding-window limiter: at most limit() requests per window() for each client, decided
// atomically in Redis by resources/lua/sliding_window.lua under rate:sliding:{client}.
//
// The checks asked during one turn of the event loop travel as one batch: one script call decides
// for all of them, in order, just before the client writes its commands (see
// RedisClient::beforeNextWrite()), or as soon as MaxBatch have gathered. Under load that is one
// call for up to 16 requests instead of one each; a lone request still shares the write, and the
// round trip, with its cache read. On a Redis Cluster a script's keys must share one slot, so the
// checks gather in one batch per slot, each leaving with the write of its slot's node.
class SlidingWindowLimiter : public MetricsSource
{
public:
    enum class OnError { Allow, Deny };

    SlidingWindowLimiter(RedisRouter &redis, int limit, std::chrono::milliseconds window);

    int limit() const { return m_limit; }
    std::chrono::milliseconds window() const { return m_window; }
    void setLimit(int limit)
    {
        m_limit = limit;
        updatePolicy();
    }
    void setWindow(std::chrono::milliseconds window)
    {
        m_window = window;
        updatePolicy();
    }
    OnError onError() const { return m_onError; }
    void setOnError(OnError policy) { m_onError = policy; }

    static QByteArray keyFor(const QString &client);

    // Decides for one request of `client` (an address). The decision leaves with the next write
    // of the Redis client, so a command issued right after shares its round trip.
    QCoro::Task<RateLimitDecision> check(QString client);
    // The decision for a client exempt from limiting (--rate-limit-exempt): allowed, and neither
    // counted in Redis nor asked of it.
    QCoro::Task<RateLimitDecision> exempt();
    // Reads `client`'s window without admitting anything (resources/lua/sliding_window_peek.lua).
    QCoro::Task<RateLimitState> peek(QString client);
    // Forgets `client`'s window: its next request starts afresh.
    struct ResetResult
    {
        bool failed = false; // Redis could not answer: `problem` says why
        QString problem;
        bool existed = false; // there was a window to forget
    };
    QCoro::Task<ResetResult> reset(QString client);

    // A batch this full leaves at once, and the Redis client writes it (with the commands issued
    // alongside) without waiting for the end of the turn: Redis works on it while the service
    // reads the next requests.
    static constexpr int MaxBatch = 16;

    // "5;w=10", for the RateLimit-Policy header.
    const QByteArray &policy() const { return m_policy; }

    struct Counters
    {
        quint64 allowed = 0;
        quint64 limited = 0;
        quint64 errors = 0; // Redis could not decide (the failure policy decided)
        quint64 exempt = 0; // exempt clients, never asked
    };
    const Counters &counters() const { return m_counters; }
    // cachedash_ratelimit_decisions_total: allowed, limited, error, exempt.
    void writeMetrics(MetricsWriter &out) const override;

private:
    struct Batch;
    static QCoro::Task<> decide(RedisRouter &redis, RedisScript script, std::shared_ptr<Batch> batch);
    static void send(RedisRouter &redis, const RedisScript &script, const std::shared_ptr<Batch> &batch);
    // On a cluster: where the batch gathering checks for `key`'s slot is kept.
    std::shared_ptr<Batch> &slotBatch(const QByteArray &key);
    std::shared_ptr<Batch> newBatch();
    void updatePolicy();

    RedisRouter &m_redis;
    RedisScript m_script;
    RedisScript m_peekScript;
    int m_limit;
    std::chrono::milliseconds m_window;
    QByteArray m_policy;
    OnError m_onError = OnError::Allow;
    QByteArray m_memberPrefix;
    quint64 m_sequence = 0; // batches sent
    std::shared_ptr<Batch> m_batch; // the batch still gathering checks, if any
    QHash<int, std::shared_ptr<Batch>> m_slotBatches; // on a cluster: per slot
    QString m_lastClient; // and its key, keyFor(m_lastClient)
    QByteArray m_lastKey;
    bool m_failing = false;
    std::chrono::steady_clock::time_point m_lastFailure;
    Counters m_counters;
};

} // namespace Cachedash
