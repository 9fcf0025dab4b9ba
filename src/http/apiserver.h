// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "histogram.h"
#include "httpresponse.h"
#include "requestrecord.h"

#include <QAbstractHttpServer>
#include <QElapsedTimer>
#include <QHash>
#include <QHostAddress>
#include <QLoggingCategory>
#include <QPointer>

#include <qcoro/qcorotask.h>

#include <array>
#include <map>
#include <optional>

Q_DECLARE_LOGGING_CATEGORY(lcHttp)

class QTcpSocket;

namespace Cachedash {

class ClientIdentity;
class RedisClient;
class ReportCache;
class ReportSource;
class SlidingWindowLimiter;

// The HTTP API over QHttpServer's request parser:
//   GET  /reports/{region}           cache-aside report, rate limited
//   POST /reports/{region}/refresh   invalidates the cached report
//   GET  /healthz                    200 when Redis answers, 503 otherwise
//   GET  /livez                      200 while the process serves
//   GET  /metrics                    counters and histograms, Prometheus text format
// Unknown paths get a JSON 404, known paths with another method a JSON 405 with Allow.
//
// Every request gets exactly one answer, written in request order on its connection, and never
// to a socket that has gone. What a request needs is copied before its first suspension: the
// server reuses its request object for the connection's next request.
class ApiServer : public QAbstractHttpServer
{
    Q_OBJECT

public:
    struct Components
    {
        RedisClient &redis;
        ReportCache &cache;
        ReportSource &source;
        SlidingWindowLimiter &limiter;
        const ClientIdentity &identity;
    };

    explicit ApiServer(Components components, QObject *parent = nullptr);
    ~ApiServer() override;

    void setAccessLog(bool enabled) { m_accessLog = enabled; }
    // When set, POST .../refresh needs "Authorization: Bearer <token>": 401 without, 403 with
    // another token (compared in constant time).
    void setAdminToken(const QByteArray &token) { m_adminToken = token; }
    int inFlight() const { return m_inFlight; }
    // Stops accepting connections; requests in flight still get their answer.
    void stopListening();

Q_SIGNALS:
    // Emitted when a request starts waiting for a computation (status 0), for observers that show
    // work in progress. Requests answered at once only emit requestFinished().
    void requestStarted(const Cachedash::RequestRecord &record);
    // Emitted after the answer is written (or dropped because the client left).
    void requestFinished(const Cachedash::RequestRecord &record);

protected:
    bool handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) override;
    void missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) override;

private:
    // The routes, as counted in /metrics.
    enum class Route { Reports, Refresh, Healthz, Livez, Metrics, Other, Count };
    struct Context;
    struct Connection
    {
        quint64 nextSequence = 0; // given to the next request read
        quint64 nextToWrite = 0; // the request whose answer goes out next
        struct Answer
        {
            QByteArray bytes;
            bool close = false;
        };
        std::map<quint64, Answer> ready; // answers finished ahead of their turn
        bool closing = false;
    };

    void dispatch(Context context);
    QCoro::Task<> getReport(Context context, QString region);
    QCoro::Task<> refreshReport(Context context, QString region);
    // Null when the request may go on; otherwise the 401 or 403 to answer.
    std::optional<HttpResponse> checkAdmin(const Context &context) const;
    QCoro::Task<> health(Context context);
    QByteArray renderMetrics() const;
    static RequestRecord recordOf(const Context &context);
    void announceComputing(const Context &context);
    void respond(Context &context, const HttpResponse &response, QByteArray outcome = {});
    void write(QTcpSocket *socket, quint64 sequence, QByteArray bytes, bool close);

    Components m_c;
    QHash<QTcpSocket *, Connection> m_connections;
    quint64 m_requestIds = 0;
    int m_inFlight = 0;
    bool m_accessLog = false;
    QByteArray m_adminToken;
    // Per route: answers by status, and how long they took.
    std::array<QHash<int, quint64>, size_t(Route::Count)> m_answers;
    std::array<Histogram, size_t(Route::Count)> m_durations;
    QHash<QByteArray, quint64> m_outcomes; // HIT, MISS, STALE, BYPASS, LIMITED, ERROR
};

} // namespace Cachedash
