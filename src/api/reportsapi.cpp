// SPDX-License-Identifier: GPL-3.0-or-later
#include "reportsapi.h"

#include "accesslog.h"
#include "apilogging.h"
#include "healthcheck.h"

#include "cache/region.h"
#include "common/json.h"
#include "common/metrics.h"
#include "http/clientidentity.h"
#include "http/httpserver.h"

#include <QJsonDocument>
#include <QMetaMethod>

#include <array>

namespace Cachedash {

ReportsApi::ReportsApi(HttpServer &server, Components components, QObject *parent)
    : QObject(parent)
    , m_server(server)
    , m_c(std::move(components))
    , m_reports(m_c.cache, m_c.source, m_c.rateLimits, m_c.rateLimitExempt, *this)
    , m_rateLimits(m_c.rateLimits, m_c.rateLimitExempt, *this)
{
    m_server.setHandler(this);
}

ReportsApi::~ReportsApi()
{
    m_server.setHandler(nullptr);
}

void ReportsApi::handle(HttpRequest http, const HttpHeaders &headers)
{
    ApiRequest request(std::move(http));
    // Without trusted proxies the client is the peer, whose address the transport wrote out once.
    if (m_c.identity.hasTrustedProxies())
        request.forwardedFor = m_c.identity.clientFor(
            headers.peerAddress(), headers.value(QByteArrayLiteral("X-Forwarded-For")));
    request.ifNoneMatch = headers.value(QByteArrayLiteral("If-None-Match"));
    if (m_admin.isEnabled())
        request.authorization = headers.value(QByteArrayLiteral("Authorization"));
    ++m_inFlight;
    dispatch(std::move(request));
}

void ReportsApi::handleRefusal(HttpRequest http, const HttpResponse &refusal)
{
    ApiRequest request(std::move(http));
    ++m_inFlight;
    respond(request, refusal, Outcome::None);
}

void ReportsApi::dispatch(ApiRequest request)
{
    using M = HttpRequest::Method;
    const HttpRequest &http = request.http;
    const bool isGet = http.method == M::Get || http.method == M::Head;
    // The path's segments, as views: segments[0] is the empty text before the leading '/'. Only
    // the first five are kept; n counts them all.
    std::array<QByteArrayView, 5> segments;
    qsizetype n = 0;
    for (qsizetype from = 0;; ++n) {
        const qsizetype slash = http.path.indexOf('/', from);
        if (n < qsizetype(segments.size()))
            segments[size_t(n)]
                = QByteArrayView(http.path).sliced(from, (slash < 0 ? http.path.size() : slash) - from);
        if (slash < 0) {
            ++n;
            break;
        }
        from = slash + 1;
    }
    auto notAllowed = [&](const char *allow) {
        HttpResponse r = HttpResponse::error(405,
            QStringLiteral("method %1 is not allowed on %2; use %3")
                .arg(QString::fromLatin1(http.methodName), displayPath(http.path), QLatin1String(allow)));
        r.addHeader("Allow", allow);
        respond(request, r, Outcome::None);
    };

    if (n == 2 && (segments[1] == "livez" || segments[1] == "healthz" || segments[1] == "metrics")) {
        request.route = segments[1] == "livez" ? Route::Livez
            : segments[1] == "healthz"         ? Route::Healthz
                                               : Route::Metrics;
        if (!isGet)
            return notAllowed("GET, HEAD");
        if (request.route == Route::Livez)
            return respond(
                request, HttpResponse::json(200, QByteArrayLiteral("{\"status\":\"ok\"}")), Outcome::None);
        if (request.route == Route::Metrics) {
            HttpResponse r;
            r.body = renderMetrics();
            r.addHeader("Content-Type", QByteArrayLiteral("text/plain; version=0.0.4; charset=utf-8"));
            return respond(request, r, Outcome::None);
        }
        health(std::move(request));
        return;
    }
    const bool report = n == 3 && segments[1] == "reports";
    const bool refresh = n == 4 && segments[1] == "reports" && segments[3] == "refresh";
    if (report || refresh) {
        request.route = report ? Route::Reports : Route::Refresh;
        if (report && !isGet)
            return notAllowed("GET, HEAD");
        if (refresh && http.method != M::Post)
            return notAllowed("POST");
        if (refresh) {
            if (std::optional<HttpResponse> refused = m_admin.check(
                    request.authorization, request.client(), QStringLiteral("invalidating a report")))
                return respond(request, *refused, Outcome::None);
        }
        QString why;
        const std::optional<QString> region
            = validateRegion(QByteArray::fromPercentEncoding(segments[2].toByteArray()), &why);
        if (!region) {
            qCInfo(lcApi).noquote() << request.client() << "refused region:" << why;
            return respond(request, HttpResponse::error(422, why), Outcome::None);
        }
        if (report)
            m_reports.get(std::move(request), *region);
        else
            m_reports.refresh(std::move(request), *region);
        return;
    }
    if (n == 3 && segments[1] == "ratelimit") {
        request.route = Route::RateLimit;
        const bool reset = http.method == M::Delete;
        if (!isGet && !reset)
            return notAllowed("GET, HEAD, DELETE");
        if (std::optional<HttpResponse> refused = m_admin.check(request.authorization, request.client(),
                reset ? QStringLiteral("resetting a client's rate limit")
                      : QStringLiteral("reading a client's rate limit")))
            return respond(request, *refused, Outcome::None);
        QString why;
        const std::optional<QString> client
            = RateLimitEndpoints::parseClient(segments[2].toByteArray(), &why);
        if (!client) {
            qCInfo(lcApi).noquote() << request.client() << "refused client:" << why;
            return respond(request, HttpResponse::error(422, why), Outcome::None);
        }
        if (reset)
            m_rateLimits.reset(std::move(request), *client);
        else
            m_rateLimits.peek(std::move(request), *client);
        return;
    }
    respond(request,
        HttpResponse::error(404,
            QStringLiteral("no such resource: %1 %2; see GET /reports/{region}")
                .arg(QString::fromLatin1(http.methodName), displayPath(http.path))),
        Outcome::None);
}

QCoro::Task<> ReportsApi::health(ApiRequest request)
{
    QCoro::Task<HealthCheck::Status> checking = m_c.health.check();
    const HealthCheck::Status status = co_await checking;
    // {"status":"ok","redis":"up",...}: the two members every version had come first.
    const QString state = !status.state.isEmpty() ? status.state
        : status.up                               ? QStringLiteral("up")
                                                  : QStringLiteral("down");
    QByteArray body = QByteArrayLiteral("{\"status\":") + (status.up ? "\"ok\"" : "\"degraded\"")
        + QByteArrayLiteral(",\"redis\":") + jsonString(state);
    if (!status.up)
        body += QByteArrayLiteral(",\"detail\":") + jsonString(status.detail);
    if (!status.details.isEmpty()) {
        const QByteArray more = QJsonDocument(status.details).toJson(QJsonDocument::Compact);
        body += ',' + more.mid(1, more.size() - 2);
    }
    body += '}';
    respond(request, HttpResponse::json(status.up ? 200 : 503, body), Outcome::None);
}

QByteArray ReportsApi::renderMetrics() const
{
    MetricsWriter out;
    m_metrics.write(out, m_server, m_inFlight);
    for (const MetricsSource *source : m_c.metrics)
        source->writeMetrics(out);
    return out.text();
}

RequestRecord ReportsApi::recordOf(const ApiRequest &request)
{
    RequestRecord record;
    record.id = request.http.id;
    record.startedMsSinceEpoch = request.http.startedMs;
    record.client = request.client();
    record.method = request.http.methodName;
    record.path = displayPath(request.http.path);
    return record;
}

void ReportsApi::announceComputing(const ApiRequest &request)
{
    static const QMetaMethod startedSignal = QMetaMethod::fromSignal(&ReportsApi::requestStarted);
    if (isSignalConnected(startedSignal))
        Q_EMIT requestStarted(recordOf(request));
}

void ReportsApi::respond(ApiRequest &request, const HttpResponse &response, Outcome outcome)
{
    Q_ASSERT(!request.answered);
    request.answered = true;
    --m_inFlight;
    m_server.respond(request.http, response);

    if (outcome == Outcome::None && response.status >= 400)
        outcome = Outcome::Error;
    const std::chrono::nanoseconds took(request.http.timer.nsecsElapsed());
    m_metrics.count(request.route, response.status, took, outcome);
    static const QMetaMethod finishedSignal = QMetaMethod::fromSignal(&ReportsApi::requestFinished);
    const bool observed = isSignalConnected(finishedSignal);
    if (!observed && !m_accessLog)
        return;
    RequestRecord record = recordOf(request);
    record.status = response.status;
    record.outcome = outcome;
    record.latencyMs = double(took.count()) / 1e6;
    record.retryAfterSeconds = response.header(QByteArrayLiteral("Retry-After")).toLongLong();
    if (m_accessLog)
        qCInfo(lcAccess).noquote() << accessLogLine(record);
    if (observed)
        Q_EMIT requestFinished(record);
}

} // namespace Cachedash
