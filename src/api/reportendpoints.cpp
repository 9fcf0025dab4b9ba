// SPDX-License-Identifier: GPL-3.0-or-later
#include "reportendpoints.h"

#include "apilogging.h"
#include "reportanswers_p.h"

#include "cache/reportcache.h"
#include "cache/reportsource.h"
#include "ratelimit/ratelimits.h"

using namespace std::chrono;

namespace Cachedash {

ReportEndpoints::ReportEndpoints(ReportCache &cache, ReportSource &source, RateLimits &limits,
    const AddressRanges &exempt, Responder &responder)
    : m_cache(cache)
    , m_source(source)
    , m_limits(limits)
    , m_exempt(exempt)
    , m_responder(responder)
{ }

QCoro::Task<> ReportEndpoints::get(ApiRequest request, QString region)
{
    // The limiter's script and the cache read leave in one write: one round trip for a hit. The
    // coroutine only waits; the answers are built by plain functions, which keeps its frame small.
    const bool exempt = !m_exempt.isEmpty() && m_exempt.contains(QHostAddress(request.client()));
    RateLimiter &limiter = m_limits.reports();
    QCoro::Task<RateLimitDecision> limitTask = exempt ? limiter.exempt() : limiter.check(request.client());
    QCoro::Task<CacheRead> readTask = m_cache.read(region);
    const RateLimitDecision decision = co_await limitTask;
    CacheRead read = co_await readTask;
    if (!decision.allowed) {
        m_responder.respond(request, limitedResponse(decision), Outcome::Limited);
        co_return;
    }
    if (read.outcome == CacheRead::Outcome::Hit || read.outcome == CacheRead::Outcome::Stale) {
        const Outcome outcome = read.outcome == CacheRead::Outcome::Hit ? Outcome::Hit : Outcome::Stale;
        if (outcome == Outcome::Stale)
            m_cache.revalidate(region);
        m_responder.respond(request,
            reportResponse(
                ReportAnswer{std::move(read.report), std::move(read.stored), std::move(read.servedJson),
                    std::move(read.fingerprint), read.freshFor, outcome},
                request.ifNoneMatch, decision),
            served(outcome, decision));
        co_return;
    }
    m_responder.announceComputing(request);
    QCoro::Task<CacheFill> filling
        = read.outcome == CacheRead::Outcome::Unavailable ? m_cache.bypass(region) : m_cache.fill(region);
    CacheFill fill = co_await filling;
    if (fill.outcome == CacheFill::Outcome::Overloaded) {
        answerOverloaded(request, region);
        co_return;
    }
    if (fill.outcome == CacheFill::Outcome::Cancelled) {
        m_responder.respond(request, HttpResponse::error(503, QStringLiteral("the service is shutting down")),
            Outcome::Error);
        co_return;
    }
    const Outcome outcome = fill.outcome == CacheFill::Outcome::Bypass ? Outcome::Bypass : Outcome::Miss;
    m_responder.respond(request,
        reportResponse(
            ReportAnswer{std::move(fill.report), std::move(fill.stored), {}, {}, fill.freshFor, outcome},
            request.ifNoneMatch, decision),
        served(outcome, decision));
}

void ReportEndpoints::answerOverloaded(ApiRequest &request, const QString &region)
{
    const qint64 retry = std::max<qint64>(1, ceil<seconds>(m_source.delay()).count());
    qCWarning(lcApi).noquote() << request.client() << "refused a miss of" << region << "-"
                               << m_cache.computationsUnderWay() << "reports are being computed";
    HttpResponse r = HttpResponse::error(503,
        QStringLiteral("%1 reports are being computed already; try again in %2 s")
            .arg(m_cache.computationsUnderWay())
            .arg(retry));
    r.addHeader("Retry-After", retry);
    m_responder.respond(request, r, Outcome::Error);
}

QCoro::Task<> ReportEndpoints::refresh(ApiRequest request, QString region)
{
    RateLimiter &limiter = m_limits.refresh();
    const bool exempt = !m_exempt.isEmpty() && m_exempt.contains(QHostAddress(request.client()));
    QCoro::Task<RateLimitDecision> limitTask = exempt ? limiter.exempt() : limiter.check(request.client());
    const RateLimitDecision decision = co_await limitTask;
    if (!decision.allowed) {
        m_responder.respond(request, limitedResponse(decision), Outcome::Limited);
        co_return;
    }
    QCoro::Task<std::optional<ReportCache::Invalidation>> invalidating = m_cache.invalidate(region);
    const std::optional<ReportCache::Invalidation> done = co_await invalidating;
    if (!done) {
        HttpResponse r = HttpResponse::json(503,
            QByteArrayLiteral("{\"detail\":\"Redis is unavailable: the report was not "
                              "invalidated\",\"invalidated\":false}"));
        r.addHeader("Retry-After", QByteArrayLiteral("1"));
        addRateLimitHeaders(r, decision);
        m_responder.respond(request, r, Outcome::Error);
        co_return;
    }
    qCInfo(lcApi).noquote() << QStringLiteral("invalidated report:%1 (%2)%3")
                                   .arg(region,
                                       done->deleted ? QStringLiteral("it was cached")
                                                     : QStringLiteral("it was not cached"),
                                       done->fillCancelled ? QStringLiteral(
                                           ", and cancelled the write of a computation in flight")
                                                           : QString());
    QByteArray body = done->deleted ? QByteArrayLiteral("{\"invalidated\":true")
                                    : QByteArrayLiteral("{\"invalidated\":false");
    if (done->fillCancelled)
        body += QByteArrayLiteral(",\"fill_cancelled\":true");
    HttpResponse r = HttpResponse::json(200, body + '}');
    addRateLimitHeaders(r, decision);
    m_responder.respond(
        request, r, served(done->deleted ? Outcome::Invalidated : Outcome::NotCached, decision));
}

} // namespace Cachedash
