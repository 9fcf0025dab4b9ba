// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "ratelimiter.h"

#include "common/metrics.h"

#include <memory>

namespace Cachedash {

class RedisRouter;

// The service's limiters, one per limited route, and their figures for /metrics:
//   reports  GET /reports/{region}           keys under rate:
//   refresh  POST /reports/{region}/refresh  keys under rate:refresh:
// Both count with the same algorithm, in the same mode.
class RateLimits : public MetricsSource
{
public:
    RateLimits(RedisRouter &redis, const RateLimitPolicy &reports, const QList<RateLimit> &refresh);
    ~RateLimits() override;

    RateLimiter &reports() { return *m_reports; }
    RateLimiter &refresh() { return *m_refresh; }
    const RateLimiter &reports() const { return *m_reports; }
    const RateLimiter &refresh() const { return *m_refresh; }

    // Both routes' new policies, at once: a check asked after this call is decided by them.
    void setPolicies(const RateLimitPolicy &reports, const QList<RateLimit> &refresh);
    void setOnError(RateLimiter::OnError policy);

    // cachedash_ratelimit_decisions_total{route,decision} and cachedash_ratelimit_limit{route,window}.
    void writeMetrics(MetricsWriter &out) const override;

private:
    std::unique_ptr<RateLimiter> m_reports;
    std::unique_ptr<RateLimiter> m_refresh;
};

} // namespace Cachedash
