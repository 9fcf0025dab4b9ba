// SPDX-License-Identifier: GPL-3.0-or-later
#include "ratelimits.h"

#include "ratelimitlogging.h"

namespace Cachedash {

namespace {

RateLimitPolicy refreshPolicy(const RateLimitPolicy &reports, const QList<RateLimit> &refresh)
{
    return {refresh, reports.algorithm, reports.mode};
}

} // namespace

RateLimits::RateLimits(RedisRouter &redis, const RateLimitPolicy &reports, const QList<RateLimit> &refresh)
    : m_reports(std::make_unique<RateLimiter>(redis, QByteArrayLiteral("rate:"), reports))
    , m_refresh(std::make_unique<RateLimiter>(
          redis, QByteArrayLiteral("rate:refresh:"), refreshPolicy(reports, refresh)))
{ }

RateLimits::~RateLimits() = default;

void RateLimits::setPolicies(const RateLimitPolicy &reports, const QList<RateLimit> &refresh)
{
    const RateLimitPolicy forRefresh = refreshPolicy(reports, refresh);
    if (reports == m_reports->policy() && forRefresh == m_refresh->policy())
        return;
    m_reports->setPolicy(reports);
    m_refresh->setPolicy(forRefresh);
    qCInfo(lcRateLimit).noquote() << "limits now: reports" << reports.describe() << "- refresh"
                                  << forRefresh.describe();
}

void RateLimits::setOnError(RateLimiter::OnError policy)
{
    m_reports->setOnError(policy);
    m_refresh->setOnError(policy);
}

void RateLimits::writeMetrics(MetricsWriter &out) const
{
    out.family("cachedash_ratelimit_decisions_total", "counter",
        "Limiter decisions by route: allowed, limited (429), shadowed (would have been limited, served "
        "in shadow mode), error (Redis could not decide), or exempt (not asked).");
    m_reports->writeSamples(out, "reports");
    m_refresh->writeSamples(out, "refresh");
    out.family("cachedash_ratelimit_limit", "gauge",
        "The limits in force: requests admitted per window (seconds), by route, algorithm and mode.");
    for (const auto &[route, limiter] :
        {std::pair{"reports", m_reports.get()}, std::pair{"refresh", m_refresh.get()}}) {
        const RateLimitPolicy &p = limiter->policy();
        for (const RateLimit &l : p.limits) {
            const QByteArray labels = MetricsWriter::label("route", route) + ','
                + MetricsWriter::label("window", QByteArray::number(qint64(l.window.count()))) + ','
                + MetricsWriter::label("algorithm", algorithmName(p.algorithm).toLatin1()) + ','
                + MetricsWriter::label("mode", modeName(p.mode).toLatin1());
            out.sample("cachedash_ratelimit_limit", labels, double(l.limit));
        }
    }
}

} // namespace Cachedash
