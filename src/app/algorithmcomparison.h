// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "ratelimit/ratelimiter.h"

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QString>

#include <array>
#include <memory>

namespace Cachedash {

class RedisRouter;

// One request of a comparison, as one algorithm decided it.
struct ComparisonStep
{
    int request = 0; // its place in the pattern, from 0
    qint64 atMs = 0; // when it was sent, ms after the comparison began
    RateAlgorithm algorithm = RateAlgorithm::SlidingLog;
    bool allowed = false;
    bool failed = false; // Redis could not decide
    int remaining = 0; // in the binding limit
    RateLimit binding; // the limit that spoke for it
    qint64 waitMs = 0; // refused: until it would be admitted; admitted: until a slot frees
};

// "Compare algorithms": one burst pattern sent to all three algorithms at once, each counting in
// keys of its own (rate:compare:...), straight to the limiters (not through HTTP, so neither the
// log nor the client's own limits see it). The pattern, for a first limit of N per W: N + 1
// requests at once, then one every W / 2N until one and a half windows have passed. The sliding
// log then admits nothing until the burst leaves its window, GCRA one request every W / N, and
// the counter somewhere between, depending on where its fixed windows fall.
// Lives on the service's thread; decided() reports each decision as it comes.
class AlgorithmComparison : public QObject
{
    Q_OBJECT

public:
    AlgorithmComparison(
        RedisRouter &redis, const QList<RateLimit> &limits, QString client, QObject *parent = nullptr);
    ~AlgorithmComparison() override;

    // What is compared: the given limits when they are small enough to watch (a limit of at most
    // 20 and windows of at most a minute), else 5/10s.
    static QList<RateLimit> comparable(const QList<RateLimit> &limits);
    // When each request leaves, in ms after the start.
    static QList<qint64> pattern(const QList<RateLimit> &limits);
    // The time between the requests after the burst: W / 2N of the first limit (100 ms at least).
    static qint64 intervalMs(const QList<RateLimit> &limits);

    const QList<RateLimit> &limits() const { return m_limits; }
    bool isRunning() const { return m_running; }
    // Forgets the comparison keys, then sends the pattern.
    void start();

Q_SIGNALS:
    void decided(const Cachedash::ComparisonStep &step);
    void finished();

private:
    QCoro::Task<> begin();
    QCoro::Task<> send(int request, qint64 atMs);

    QList<RateLimit> m_limits;
    QString m_client;
    std::array<std::unique_ptr<RateLimiter>, 3> m_limiters; // by RateAlgorithm
    QList<qint64> m_pattern;
    int m_outstanding = 0;
    bool m_running = false;
};

} // namespace Cachedash

Q_DECLARE_METATYPE(Cachedash::ComparisonStep)
