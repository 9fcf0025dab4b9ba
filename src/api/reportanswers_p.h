// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "outcome.h"

#include "cache/report.h"
#include "http/httpresponse.h"

#include <QByteArray>

#include <chrono>

namespace Cachedash {

struct RateLimitDecision;

// A report to answer with, from the cache or a computation.
struct ReportAnswer
{
    Report report;
    QByteArray stored; // as stored in Redis
    QByteArray served; // the body, when the cache kept it ready
    QByteArray fingerprint; // likewise, for the ETag
    std::chrono::milliseconds freshFor{0};
    Outcome outcome = Outcome::Miss; // Hit, Stale, Miss or Bypass
};

// The answers of GET /reports/{region}, with their headers; plain functions, so that the handler
// coroutine only waits.

// 200 with the report (or 304 when If-None-Match names its ETag): X-Cache, ETag, Cache-Control,
// Age and the RateLimit headers.
HttpResponse reportResponse(
    ReportAnswer answer, const QByteArray &ifNoneMatch, const RateLimitDecision &decision);
// 429 with Retry-After, or 503 when the limiter could not decide and its policy refuses.
HttpResponse limitedResponse(const RateLimitDecision &decision);
// RateLimit-Limit, -Remaining, -Reset (whole seconds, rounded up) for the binding limit, and
// -Policy for every limit; nothing for an exempt client or an unlimited route.
void addRateLimitHeaders(HttpResponse &response, const RateLimitDecision &decision);
// Whether If-None-Match (a list, weak tags, or *) names `etag`.
bool etagMatches(const QByteArray &ifNoneMatch, const QByteArray &etag);

} // namespace Cachedash
