// SPDX-License-Identifier: GPL-3.0-or-later
#include "reportanswers_p.h"

#include "cache/reportcache.h"
#include "ratelimit/ratelimiter.h"

#include <QDateTime>

using namespace std::chrono;

namespace Cachedash {

bool etagMatches(const QByteArray &ifNoneMatch, const QByteArray &etag)
{
    for (QByteArray candidate : ifNoneMatch.split(',')) {
        candidate = candidate.trimmed();
        if (candidate == "*")
            return true;
        if (candidate.startsWith("W/"))
            candidate = candidate.mid(2);
        if (candidate == etag)
            return true;
    }
    return false;
}

void addRateLimitHeaders(HttpResponse &response, const RateLimitDecision &decision)
{
    if (decision.exempt)
        return; // no limit applies: none is announced
    response.addHeader("RateLimit-Limit", qint64(decision.limit));
    response.addHeader("RateLimit-Remaining", qint64(decision.remaining));
    const qint64 reset = decision.nextSlot.count() > 0 ? ceil<seconds>(decision.nextSlot).count() : 0;
    response.addHeader("RateLimit-Reset", reset);
    response.addHeader("RateLimit-Policy", decision.policy);
}

HttpResponse reportResponse(ReportAnswer a, const QByteArray &ifNoneMatch, const RateLimitDecision &decision)
{
    const bool cached = a.outcome == Outcome::Hit || a.outcome == Outcome::Stale;
    if (a.fingerprint.isEmpty())
        a.fingerprint = ReportCache::fingerprint(a.stored);
    const QByteArray etag = '"' + a.fingerprint + '"';
    const bool notModified = !ifNoneMatch.isEmpty() && etagMatches(ifNoneMatch, etag);
    // A hit reuses the body the cache kept for these stored bytes: no serialising per request.
    QByteArray body;
    if (!notModified)
        body = cached && !a.served.isEmpty() ? std::move(a.served) : a.report.toJson(cached);
    HttpResponse r = notModified ? HttpResponse{304, {}, {}} : HttpResponse::json(200, std::move(body));
    r.addHeader("X-Cache", outcomeName(a.outcome));
    r.addHeader("ETag", etag);
    if (a.outcome == Outcome::Bypass)
        r.addHeader("Cache-Control", QByteArrayLiteral("no-store"));
    else
        r.addHeader("Cache-Control", QByteArrayLiteral("max-age="),
            qint64(duration_cast<seconds>(a.freshFor).count()));
    const qint64 age
        = std::max<qint64>(0, a.report.generatedAt.msecsTo(QDateTime::currentDateTimeUtc()) / 1000);
    r.addHeader("Age", cached ? age : 0);
    addRateLimitHeaders(r, decision);
    return r;
}

HttpResponse limitedResponse(const RateLimitDecision &decision)
{
    // The body of a 429 never changes: built once (a flood of them is the limiter's whole job).
    static const QByteArray limited = HttpResponse::error(429, QStringLiteral("Rate limit exceeded")).body;
    HttpResponse r = decision.failed ? HttpResponse::error(
                         503, QStringLiteral("the rate limiter is unavailable, so the request was refused"))
                                     : HttpResponse::json(429, limited);
    addRateLimitHeaders(r, decision);
    r.addHeader("Retry-After", decision.retryAfterSeconds());
    return r;
}

} // namespace Cachedash
