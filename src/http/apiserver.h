// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "histogram.h"
#include "httprequestscanner.h"
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
#include <chrono>
#include <map>
#include <memory>
#include <optional>

Q_DECLARE_LOGGING_CATEGORY(lcHttp)

class QTcpSocket;
class QTimer;

namespace Cachedash {
class Wire;
}

namespace Cachedash {

class ClientIdentity;
class RedisClient;
class ReportCache;
class ReportSource;
class SlidingWindowLimiter;
struct RateLimitDecision;

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
//
// The server owns the connections; QHttpServer only parses. Each connection's bytes go through an
// HttpRequestScanner first, which bounds the request line, the head and the body, and refuses what
// is malformed with a JSON 4xx. Complete requests are handed to QHttpServer's parser one at a
// time, so pipelined requests are parsed in order and answered in order. Connections are capped
// (the longest idle one makes room for a new one), a request must arrive whole within the request
// timeout (slow clients get 408), idle keep-alive connections close after the idle timeout, and a
// connection stops being read while its client leaves answers unread.
class ApiServer : public QAbstractHttpServer
{
    Q_OBJECT

public:
    struct Limits
    {
        HttpLimits http;
        int maxConnections = 4096; // beyond: the longest idle connection closes, else 503
        std::chrono::milliseconds requestTimeout{10'000}; // from a request's first byte to its last
        std::chrono::milliseconds idleTimeout{30'000}; // between requests on a keep-alive connection
        int maxPipelined = 32; // unanswered requests per connection before reading pauses
        qint64 maxUnsent = 1 << 20; // answer bytes a client has not taken before reading pauses
        std::chrono::milliseconds lingerTime{2000}; // reading on after a refusal, so the answer lands
    };

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

    void setLimits(const Limits &limits);
    const Limits &limits() const { return m_limits; }
    // Starts listening; on failure returns false and sets *error.
    bool listenOn(const QHostAddress &address, quint16 port, QString *error);
    quint16 port() const { return m_port; }
    int connectionCount() const { return int(m_connections.size()); }

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
    class Listener;
    class ParserFeed;
    struct Connection
    {
        explicit Connection(const HttpLimits &limits)
            : scanner(limits)
        { }
        Wire *wire = nullptr;
        QPointer<ParserFeed> feed; // what QHttpServer reads the requests from
        QString peer; // the peer's address as the limiter knows clients (ClientIdentity)
        HttpRequestScanner scanner;
        QByteArray head; // the scanned part of a request not yet complete
        QByteArray input; // read from the wire, scanned up to inputPos
        qsizetype inputPos = 0;
        quint64 nextSequence = 0; // given to the next request read
        quint64 nextToWrite = 0; // the request whose answer goes out next
        struct Answer
        {
            QByteArray bytes;
            bool close = false;
        };
        std::map<quint64, Answer> ready; // answers finished ahead of their turn
        bool closing = false; // the last answer is written: closing once the client has it
        bool stopReading = false; // no more requests are read from this connection
        bool clientDone = false; // the client has sent all it will; close after its answers
        bool reading = false; // inside readInput()
        bool paused = false; // reading waits for answers to be written or taken
        qint64 accepted = 0; // ms on m_clock
        qint64 lastActivity = 0; // ms on m_clock: bytes read or written
        qint64 requestStarted = -1; // ms on m_clock when the request under way began
        quint64 requests = 0;
        quint64 unanswered() const { return nextSequence - nextToWrite; }
    };
    struct Delivery; // a scanned request on its way through QHttpServer's parser

    void dispatch(Context context);
    QCoro::Task<> getReport(Context context, QString region);
    struct ReportAnswer; // a report to answer with, from the cache or a computation
    void answerReport(Context &context, const RateLimitDecision &decision, ReportAnswer answer);
    void answerLimited(Context &context, const RateLimitDecision &decision);
    void answerOverloaded(Context &context, const QString &region);
    QCoro::Task<> refreshReport(Context context, QString region);
    // Null when the request may go on; otherwise the 401 or 403 to answer.
    std::optional<HttpResponse> checkAdmin(const Context &context) const;
    QCoro::Task<> health(Context context);
    QByteArray renderMetrics() const;
    static RequestRecord recordOf(const Context &context);
    void announceComputing(const Context &context);
    void respond(Context &context, const HttpResponse &response, QByteArray outcome = {});
    void write(Wire *wire, quint64 sequence, QByteArray bytes, bool close);

    void accept(qintptr descriptor);
    bool evictOne();
    Connection *connectionOf(Wire *wire) const;
    void readInput(Connection &c);
    void deliver(Connection &c, QByteArray bytes, const ScannedRequest &scanned);
    // Answers a request the connection guard refused, in its turn, and closes the connection.
    void refuse(Connection &c, int status, const QString &detail);
    void beginClose(Connection &c);
    void clientDone(Connection &c);
    void sweep();

    Components m_c;
    Limits m_limits;
    quint16 m_port = 0;
    Listener *m_listener = nullptr;
    QTimer *m_sweeper = nullptr;
    QElapsedTimer m_clock;
    Delivery *m_delivery = nullptr;
    QHash<Wire *, std::shared_ptr<Connection>> m_connections;
    quint64 m_connectionsAccepted = 0;
    quint64 m_connectionsRefused = 0;
    quint64 m_connectionsEvicted = 0;
    quint64 m_connectionsTimedOut = 0;
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
