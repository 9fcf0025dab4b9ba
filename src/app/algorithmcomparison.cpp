// SPDX-License-Identifier: GPL-3.0-or-later
#include "algorithmcomparison.h"

#include <QPointer>
#include <QTimer>

using namespace std::chrono_literals;

namespace Cachedash {

namespace {
constexpr RateAlgorithm Algorithms[]
    = {RateAlgorithm::SlidingLog, RateAlgorithm::Gcra, RateAlgorithm::SlidingWindowCounter};
}

AlgorithmComparison::AlgorithmComparison(
    RedisRouter &redis, const QList<RateLimit> &limits, QString client, QObject *parent)
    : QObject(parent)
    , m_limits(comparable(limits))
    , m_client(std::move(client))
    , m_pattern(pattern(m_limits))
{
    qRegisterMetaType<ComparisonStep>();
    for (RateAlgorithm a : Algorithms)
        m_limiters[size_t(a)] = std::make_unique<RateLimiter>(
            redis, QByteArrayLiteral("rate:compare:"), RateLimitPolicy{m_limits, a, RateLimitMode::Enforce});
}

AlgorithmComparison::~AlgorithmComparison() = default;

QList<RateLimit> AlgorithmComparison::comparable(const QList<RateLimit> &limits)
{
    const bool small = !limits.isEmpty() && std::all_of(limits.begin(), limits.end(), [](const RateLimit &l) {
        return l.limit <= 20 && l.window <= 60s;
    });
    return small ? limits : QList<RateLimit>{{5, 10s}};
}

qint64 AlgorithmComparison::intervalMs(const QList<RateLimit> &limits)
{
    const RateLimit &first = limits.first();
    return std::max<qint64>(100, first.windowMs().count() / (2 * first.limit));
}

QList<qint64> AlgorithmComparison::pattern(const QList<RateLimit> &limits)
{
    const RateLimit &first = limits.first();
    const qint64 w = first.windowMs().count();
    QList<qint64> at(first.limit + 1, 0);
    const qint64 step = intervalMs(limits);
    for (qint64 t = step; t <= w + w / 2; t += step)
        at.append(t);
    return at;
}

void AlgorithmComparison::start()
{
    if (m_running)
        return;
    m_running = true;
    begin();
}

QCoro::Task<> AlgorithmComparison::begin()
{
    QPointer<AlgorithmComparison> self(this);
    for (const auto &limiter : m_limiters) {
        QCoro::Task<RateLimiter::ResetResult> resetting = limiter->reset(m_client);
        co_await resetting;
        if (!self)
            co_return;
    }
    for (int i = 0; i < m_pattern.size(); ++i) {
        const qint64 at = m_pattern[i];
        QTimer::singleShot(std::chrono::milliseconds(at), this, [this, i, at] { send(i, at); });
    }
    m_outstanding = int(m_pattern.size());
}

QCoro::Task<> AlgorithmComparison::send(int request, qint64 atMs)
{
    QPointer<AlgorithmComparison> self(this);
    std::array<QCoro::Task<RateLimitDecision>, 3> checks{
        m_limiters[0]->check(m_client), m_limiters[1]->check(m_client), m_limiters[2]->check(m_client)};
    for (RateAlgorithm a : Algorithms) {
        const RateLimitDecision d = co_await checks[size_t(a)];
        if (!self)
            co_return;
        ComparisonStep step;
        step.request = request;
        step.atMs = atMs;
        step.algorithm = a;
        step.allowed = d.allowed;
        step.failed = d.failed;
        step.remaining = d.remaining;
        step.binding = {d.limit, d.window};
        step.waitMs = d.nextSlot.count();
        Q_EMIT decided(step);
    }
    if (--m_outstanding == 0) {
        m_running = false;
        Q_EMIT finished();
    }
}

} // namespace Cachedash
