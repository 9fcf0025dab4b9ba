// SPDX-License-Identifier: GPL-3.0-or-later
#include "ratelimitendpoints.h"

#include "apilogging.h"

#include "common/json.h"
#include "http/addressranges.h"
#include "http/clientidentity.h"
#include "http/httpresponse.h"
#include "ratelimit/ratelimits.h"

#include <QHostAddress>

using namespace std::chrono;

namespace Cachedash {

RateLimitEndpoints::RateLimitEndpoints(RateLimits &limits, const AddressRanges &exempt, Responder &responder)
    : m_limits(limits)
    , m_exempt(exempt)
    , m_responder(responder)
{ }

std::optional<QString> RateLimitEndpoints::parseClient(const QByteArray &segment, QString *why)
{
    const QByteArray text = QByteArray::fromPercentEncoding(segment);
    QHostAddress address;
    if (text.isEmpty() || text.size() > 64 || !address.setAddress(QString::fromLatin1(text))
        || !address.scopeId().isEmpty()) {
        *why = QStringLiteral("a client is an IPv4 or IPv6 address, such as 198.51.100.7 or 2001:db8::1");
        return std::nullopt;
    }
    return ClientIdentity::normalized(address).toString();
}

void RateLimitEndpoints::appendLimits(
    QByteArray &out, const char *route, const RateLimitPeek &peek, int algorithm)
{
    const auto number = [](double v) { return QByteArray::number(v, 'f', 3); };
    for (qsizetype j = 0; j < peek.limits.size(); ++j) {
        const RateLimitState &s = peek.limits[j];
        if (!out.endsWith('['))
            out += ',';
        const qint64 reset = s.nextSlot > 0ms ? ceil<seconds>(s.nextSlot).count() : 0;
        out += "{\"route\":\"" + QByteArray(route) + "\",\"limit\":" + QByteArray::number(s.limit.limit)
            + ",\"window\":" + QByteArray::number(qint64(s.limit.window.count()))
            + ",\"used\":" + QByteArray::number(s.used) + ",\"remaining\":" + QByteArray::number(s.remaining)
            + ",\"reset\":" + QByteArray::number(reset)
            + ",\"next_slot_ms\":" + QByteArray::number(qint64(s.nextSlot.count()))
            + ",\"retry_after_ms\":" + QByteArray::number(qint64(s.retry.count()))
            + ",\"key\":" + jsonString(QString::fromUtf8(peek.keys.value(algorithm == 0 ? 0 : j)));
        switch (RateAlgorithm(algorithm)) {
        case RateAlgorithm::SlidingLog: out += ",\"entries\":" + QByteArray::number(s.kept[0]); break;
        case RateAlgorithm::Gcra:
            out += ",\"tat_ahead_ms\":" + number(double(s.kept[0]) / 1000) + ",\"emission_interval_ms\":"
                + number(double(s.kept[1]) / 1000) + ",\"tolerance_ms\":" + number(double(s.kept[2]) / 1000);
            break;
        case RateAlgorithm::SlidingWindowCounter: {
            const double w = double(s.limit.windowMs().count());
            out += ",\"current\":" + QByteArray::number(s.kept[0])
                + ",\"previous\":" + QByteArray::number(s.kept[1])
                + ",\"elapsed_ms\":" + QByteArray::number(s.kept[2]) + ",\"estimate\":"
                + number(double(s.kept[1]) * (w - double(s.kept[2])) / w + double(s.kept[0]));
            break;
        }
        }
        out += '}';
    }
}

QCoro::Task<> RateLimitEndpoints::peek(ApiRequest request, QString client)
{
    QCoro::Task<RateLimitPeek> readingReports = m_limits.reports().peek(client);
    QCoro::Task<RateLimitPeek> readingRefresh = m_limits.refresh().peek(client);
    const RateLimitPeek reports = co_await readingReports;
    const RateLimitPeek refresh = co_await readingRefresh;
    for (const RateLimitPeek *peek : {&reports, &refresh}) {
        if (peek->failed) {
            qCWarning(lcApi).noquote() << "cannot read the limits of" << client << "-" << peek->problem;
            m_responder.respond(request,
                HttpResponse::error(503, QStringLiteral("the limiter cannot be read now: ") + peek->problem));
            co_return;
        }
    }
    const RateLimitPolicy &policy = m_limits.reports().policy();
    const bool exempt = !m_exempt.isEmpty() && m_exempt.contains(QHostAddress(client));
    QByteArray body = "{\"client\":" + jsonString(client)
        + ",\"key\":" + jsonString(QString::fromUtf8(reports.keys.value(0))) + ",\"algorithm\":"
        + jsonString(algorithmName(policy.algorithm)) + ",\"mode\":" + jsonString(modeName(policy.mode))
        + ",\"exempt\":" + (exempt ? "true" : "false") + ",\"limits\":[";
    appendLimits(body, "reports", reports, int(policy.algorithm));
    appendLimits(body, "refresh", refresh, int(policy.algorithm));
    body += "]}";
    m_responder.respond(request, HttpResponse::json(200, body));
}

QCoro::Task<> RateLimitEndpoints::reset(ApiRequest request, QString client)
{
    QCoro::Task<RateLimiter::ResetResult> resettingReports = m_limits.reports().reset(client);
    QCoro::Task<RateLimiter::ResetResult> resettingRefresh = m_limits.refresh().reset(client);
    const RateLimiter::ResetResult reports = co_await resettingReports;
    const RateLimiter::ResetResult refresh = co_await resettingRefresh;
    for (const RateLimiter::ResetResult *result : {&reports, &refresh}) {
        if (result->failed) {
            qCWarning(lcApi).noquote() << "cannot reset the limits of" << client << "-" << result->problem;
            m_responder.respond(request,
                HttpResponse::error(
                    503, QStringLiteral("the limiter cannot be reset now: ") + result->problem));
            co_return;
        }
    }
    const int deleted = reports.deleted + refresh.deleted;
    m_responder.respond(request,
        HttpResponse::json(200,
            "{\"client\":" + jsonString(client)
                + ",\"reset\":true,\"existed\":" + (deleted > 0 ? "true" : "false")
                + ",\"keys_deleted\":" + QByteArray::number(deleted) + '}'));
}

} // namespace Cachedash
