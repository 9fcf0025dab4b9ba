// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "adminauth.h"
#include "apimetrics.h"
#include "apirequest.h"
#include "ratelimitendpoints.h"
#include "reportendpoints.h"
#include "requestrecord.h"

#include "http/httprequest.h"

#include <QList>
#include <QObject>

#include <qcoro/qcorotask.h>

namespace Cachedash {

class AddressRanges;
class ClientIdentity;
class HealthCheck;
class HttpServer;
class MetricsSource;
class ReportCache;
class ReportSource;
class RateLimits;

// The service's HTTP API, as the handler of an HttpServer:
//   GET  /reports/{region}           cache-aside report, rate limited
//   POST /reports/{region}/refresh   invalidates the cached report
//   GET  /ratelimit/{client}         a client's window, read without spending it
//   DELETE /ratelimit/{client}       forgets a client's window
//   GET  /healthz                    200 when Redis answers, 503 otherwise
//   GET  /livez                      200 while the process serves
//   GET  /metrics                    counters and histograms, Prometheus text format
// Unknown paths get a JSON 404, known paths with another method a JSON 405 with Allow; a region
// that is not valid gets a 422. Every answer is counted, written to the access log when it is on,
// and announced to observers (the window).
class ReportsApi : public QObject, public HttpHandler, private Responder
{
    Q_OBJECT

public:
    struct Components
    {
        ReportCache &cache;
        ReportSource &source;
        RateLimits &rateLimits;
        const ClientIdentity &identity;
        const AddressRanges &rateLimitExempt; // never limited, never counted
        HealthCheck &health;
        // Asked in turn for their figures after the API's own, by GET /metrics.
        QList<const MetricsSource *> metrics;
    };

    // Answers the requests of `server` from now on.
    ReportsApi(HttpServer &server, Components components, QObject *parent = nullptr);
    ~ReportsApi() override;

    void setAccessLog(bool enabled) { m_accessLog = enabled; }
    // When set, POST .../refresh needs "Authorization: Bearer <token>" (see AdminAuth).
    void setAdminToken(const QByteArray &token) { m_admin.setToken(token); }
    // Requests read and not answered yet.
    int inFlight() const { return m_inFlight; }
    // What GET /metrics answers.
    QByteArray renderMetrics() const;

Q_SIGNALS:
    // Emitted when a request starts waiting for a computation (status 0), for observers that show
    // work in progress. Requests answered at once only emit requestFinished().
    void requestStarted(const Cachedash::RequestRecord &record);
    // Emitted after the answer is written (or dropped because the client left).
    void requestFinished(const Cachedash::RequestRecord &record);

private:
    void handle(HttpRequest request, const HttpHeaders &headers) override;
    void handleRefusal(HttpRequest request, const HttpResponse &refusal) override;
    void respond(ApiRequest &request, const HttpResponse &response, Outcome outcome) override;
    void announceComputing(const ApiRequest &request) override;

    void dispatch(ApiRequest request);
    QCoro::Task<> health(ApiRequest request);
    static RequestRecord recordOf(const ApiRequest &request);

    HttpServer &m_server;
    Components m_c;
    AdminAuth m_admin;
    ApiMetrics m_metrics;
    ReportEndpoints m_reports;
    RateLimitEndpoints m_rateLimits;
    int m_inFlight = 0;
    bool m_accessLog = false;
};

} // namespace Cachedash
