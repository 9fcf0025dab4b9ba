// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "apirequest.h"

#include "http/addressranges.h"
#include "ratelimit/ratelimiter.h"

#include <QString>

#include <qcoro/qcorotask.h>

namespace Cachedash {

class ReportCache;
class ReportSource;
class RateLimits;

// GET /reports/{region} and POST /reports/{region}/refresh, for a region already validated:
// the limiter's decision and the cache read leave together (one round trip for a hit), a miss
// computes once for every concurrent caller, and a refresh invalidates the report and any fill
// in flight.
class ReportEndpoints
{
public:
    // Clients in `exempt` are never limited nor counted.
    ReportEndpoints(ReportCache &cache, ReportSource &source, RateLimits &limits, const AddressRanges &exempt,
        Responder &responder);

    QCoro::Task<> get(ApiRequest request, QString region);
    QCoro::Task<> refresh(ApiRequest request, QString region);

private:
    void answerOverloaded(ApiRequest &request, const QString &region);
    // In shadow mode a request a limit would have refused is served, under its own outcome.
    static Outcome served(Outcome outcome, const RateLimitDecision &decision)
    {
        return decision.limited ? Outcome::Shadowed : outcome;
    }

    ReportCache &m_cache;
    ReportSource &m_source;
    RateLimits &m_limits;
    const AddressRanges &m_exempt;
    Responder &m_responder;
};

} // namespace Cachedash
