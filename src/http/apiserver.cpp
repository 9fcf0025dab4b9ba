// SPDX-License-Identifier: GPL-3.0-or-later
#include "apiserver.h"

#include "clientidentity.h"
#include "redisclient.h"
#include "region.h"
#include "report.h"
#include "reportcache.h"
#include "reportsource.h"
#include "slidingwindowlimiter.h"
#include "wire.h"

#include <QDateTime>
#include <QHttpServerRequest>
#include <QMetaMethod>
#include <QScopedValueRollback>
#include <QSet>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>

#include <array>
#include <cstring>

Q_LOGGING_CATEGORY(lcHttp, "cachedash.http", QtInfoMsg)

using namespace std::chrono;

namespace Cachedash {

struct ApiServer::Context
{
    quint64 id = 0;
    quint64 sequence = 0;
    QPointer<Wire> socket;
    Wire *connectionKey = nullptr; // for lookups only: may dangle once the connection is gone
    QHttpServerRequest::Method method = QHttpServerRequest::Method::Unknown;
    QByteArray methodName;
    QByteArray rawPath; // percent-encoded, as received
    QString client;
    QByteArray ifNoneMatch;
    QByteArray authorization;
    bool head = false;
    bool close = false;
    bool announceKeepAlive = false; // HTTP/1.0 with Connection: keep-alive
    Route route = Route::Other;
    qint64 startedMs = 0;
    QElapsedTimer timer;
    bool answered = false;
};

// Takes the listening socket's connections for ApiServer, which wraps each before QHttpServer
// sees it.
class ApiServer::Listener final : public QTcpServer
{
public:
    explicit Listener(ApiServer *server)
        : QTcpServer(server)
        , m_server(server)
    { }

    using QTcpServer::addPendingConnection;

protected:
    void incomingConnection(qintptr descriptor) override { m_server->accept(descriptor); }

private:
    ApiServer *m_server;
};

// The socket QHttpServer reads requests from: not a network socket, but a feed of one complete,
// scanned request at a time. Answers go to the real socket, the "wire".
//
// QHttpServer 6.4 reads a request's head one byte per read() call, inside a transaction. On a
// buffered sequential device each such call goes through QIODevice's ring buffer, which kept the
// data for the transaction: about 200 instructions a byte. This feed says it is unbuffered and
// random-access (it holds the request, so it can seek), and each read() comes straight here.
class ApiServer::ParserFeed final : public QTcpSocket
{
public:
    explicit ParserFeed(Wire *wire)
        : QTcpSocket(wire)
    {
        setPeerAddress(wire->peerAddress());
        setPeerPort(wire->peerPort());
        setLocalAddress(wire->localAddress());
        setLocalPort(wire->localPort());
        QIODevice::open(QIODevice::ReadWrite | QIODevice::Unbuffered);
        setSocketState(QAbstractSocket::ConnectedState);
    }

    bool isSequential() const override { return false; }
    // Positions count every byte delivered so far; only the current request can be sought to.
    bool seek(qint64 pos) override
    {
        const qint64 at = pos - m_base;
        if (at < 0 || at > m_bytes.size())
            return false;
        QIODevice::seek(pos);
        m_read = at;
        return true;
    }

    // Hands one request to whoever reads this socket, synchronously.
    void deliver(QByteArray bytes)
    {
        m_base = pos();
        m_bytes = std::move(bytes);
        m_read = 0;
        Q_EMIT readyRead();
        m_base += m_read;
        m_bytes.clear();
        m_read = 0;
    }

    // The wire has gone: QHttpServer lets go of this socket.
    void end()
    {
        if (state() == QAbstractSocket::UnconnectedState)
            return;
        setSocketState(QAbstractSocket::UnconnectedState);
        Q_EMIT disconnected();
    }

    qint64 bytesAvailable() const override
    {
        return QTcpSocket::bytesAvailable() + (m_bytes.size() - m_read);
    }

protected:
    qint64 readData(char *data, qint64 maxSize) override
    {
        const qint64 n = std::min<qint64>(maxSize, m_bytes.size() - m_read);
        if (n > 0)
            std::memcpy(data, m_bytes.constData() + m_read, size_t(n));
        m_read += n;
        return n;
    }
    qint64 writeData(const char *, qint64) override { return -1; }

private:
    QByteArray m_bytes;
    qsizetype m_read = 0;
    qint64 m_base = 0; // the position of m_bytes' first byte
};

struct ApiServer::Delivery
{
    Connection *connection = nullptr;
    ScannedRequest scanned;
    bool taken = false;
};

namespace {

QByteArray methodName(QHttpServerRequest::Method method)
{
    using M = QHttpServerRequest::Method;
    switch (method) {
    case M::Get: return QByteArrayLiteral("GET");
    case M::Put: return QByteArrayLiteral("PUT");
    case M::Delete: return QByteArrayLiteral("DELETE");
    case M::Post: return QByteArrayLiteral("POST");
    case M::Head: return QByteArrayLiteral("HEAD");
    case M::Options: return QByteArrayLiteral("OPTIONS");
    case M::Patch: return QByteArrayLiteral("PATCH");
    case M::Connect: return QByteArrayLiteral("CONNECT");
    case M::Trace: return QByteArrayLiteral("TRACE");
    default: return QByteArrayLiteral("UNKNOWN");
    }
}

// The path as a reader should see it in a log: decoded where that is valid UTF-8, and short.
QString displayPath(const QByteArray &rawPath)
{
    QString path = QString::fromUtf8(QByteArray::fromPercentEncoding(rawPath.left(512)));
    if (rawPath.size() > 512)
        path += QStringLiteral("...");
    return path;
}

// Compares without an early exit, so the time taken does not tell how much of a guess was right.
bool equalInConstantTime(const QByteArray &a, const QByteArray &b)
{
    unsigned char difference = a.size() == b.size() ? 0 : 1;
    const qsizetype n = std::max(a.size(), b.size());
    for (qsizetype i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? uchar(a[i]) : 0;
        const unsigned char y = i < b.size() ? uchar(b[i]) : 0;
        difference |= x ^ y;
    }
    return difference == 0;
}

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

void addRateLimitHeaders(HttpResponse &response, const RateLimitDecision &decision, const QByteArray &policy)
{
    response.addHeader("RateLimit-Limit", qint64(decision.limit));
    response.addHeader("RateLimit-Remaining", qint64(decision.remaining));
    const qint64 reset = decision.nextSlot.count() > 0 ? (decision.nextSlot.count() + 999) / 1000 : 0;
    response.addHeader("RateLimit-Reset", reset);
    response.addHeader("RateLimit-Policy", policy);
}

} // namespace

ApiServer::ApiServer(Components components, QObject *parent)
    : QAbstractHttpServer(parent)
    , m_c(components)
{
    m_clock.start();
    m_sweeper = new QTimer(this);
    m_sweeper->setInterval(250);
    connect(m_sweeper, &QTimer::timeout, this, &ApiServer::sweep);
}

ApiServer::~ApiServer()
{
    // The wires are children and go after this; let nothing of theirs call back.
    for (const auto &c : std::as_const(m_connections))
        c->wire->disconnect(this);
}

void ApiServer::setLimits(const Limits &limits)
{
    m_limits = limits;
}

bool ApiServer::listenOn(const QHostAddress &address, quint16 port, QString *error)
{
    auto *listener = new Listener(this);
    // Qt's defaults (a backlog of 50, 30 pending connections) drop the SYNs of a burst of clients,
    // who then wait a second to retry: take bursts of a thousand at once.
    listener->setListenBacklogSize(1024);
    listener->setMaxPendingConnections(1024);
    if (!listener->listen(address, port)) {
        *error = listener->errorString();
        delete listener;
        return false;
    }
    // Out of file descriptors, QTcpServer stops accepting for good: pause briefly and go on.
    connect(
        listener, &QTcpServer::acceptError, this, [this, listener](QAbstractSocket::SocketError) {
            qCWarning(lcHttp).noquote()
                << "cannot accept a connection:" << listener->errorString()
                << QStringLiteral("(%1 open); retrying in 100 ms").arg(m_connections.size());
            listener->pauseAccepting();
            QTimer::singleShot(100, listener, [listener] { listener->resumeAccepting(); });
        });
    m_listener = listener;
    m_port = listener->serverPort();
    bind(listener);
    m_sweeper->start();
    return true;
}

void ApiServer::stopListening()
{
    for (QTcpServer *server : servers())
        server->close();
}

ApiServer::Connection *ApiServer::connectionOf(Wire *wire) const
{
    const auto it = m_connections.constFind(wire);
    return it == m_connections.cend() ? nullptr : it->get();
}

void ApiServer::accept(qintptr descriptor)
{
    auto *wire = new Wire(descriptor, this);
    connect(wire, &Wire::closed, wire, &QObject::deleteLater);
    ++m_connectionsAccepted;
    if (m_connections.size() >= m_limits.maxConnections && !evictOne()) {
        ++m_connectionsRefused;
        qCWarning(lcHttp).noquote()
            << wire->peerAddress().toString()
            << QStringLiteral("refused: %1 connections are open, all busy").arg(m_connections.size());
        HttpResponse r = HttpResponse::error(503,
            QStringLiteral("the server has %1 connections open, all busy; try again shortly")
                .arg(m_connections.size()));
        r.addHeader("Retry-After", QByteArrayLiteral("1"));
        wire->write(r.serialize(true, true));
        wire->finish(m_limits.lingerTime);
        return;
    }
    auto connection = std::make_shared<Connection>(m_limits.http);
    connection->wire = wire;
    connection->peer = ClientIdentity::normalized(wire->peerAddress()).toString();
    connection->accepted = connection->lastActivity = m_clock.elapsed();
    auto *feed = new ParserFeed(wire);
    connection->feed = feed;
    m_connections.insert(wire, connection);

    connect(wire, &Wire::readyRead, this, [this, wire] {
        if (Connection *c = connectionOf(wire))
            readInput(*c);
    });
    connect(wire, &Wire::bytesWritten, this, [this, wire] {
        Connection *c = connectionOf(wire);
        if (!c)
            return;
        c->lastActivity = m_clock.elapsed();
        if (c->paused)
            readInput(*c); // reading paused for this client to take its answers
    });
    connect(wire, &Wire::closed, this, [this, wire] {
        if (Connection *c = connectionOf(wire)) {
            c->closing = true;
            if (c->feed)
                c->feed->end();
        }
    });
    connect(wire, &QObject::destroyed, this, [this, wire] { m_connections.remove(wire); });
    m_listener->addPendingConnection(feed);
}

bool ApiServer::evictOne()
{
    // First choice: the connection idle the longest: no request under way or pending, nothing to
    // write, and either served before (an idle keep-alive connection) or silent since it opened
    // 100 ms ago (a new client's request arrives with its connection). Second: the one whose
    // unfinished request began the longest ago (a slow client). A connection with a request being
    // answered, or with bytes waiting to be read, is never taken. The kernel is asked about
    // waiting bytes only for the one chosen, so that a full server stays cheap to connect to.
    const qint64 now = m_clock.elapsed();
    QSet<Connection *> unreadBytes;
    for (int attempt = 0; attempt < 8; ++attempt) {
        Connection *idle = nullptr;
        Connection *slow = nullptr;
        for (const auto &c : std::as_const(m_connections)) {
            if (c->closing || c->unanswered() > 0 || c->wire->bytesToWrite() > 0
                || c->inputPos < c->input.size() || unreadBytes.contains(c.get()))
                continue;
            if (c->scanner.inRequest()) {
                if (!slow || c->requestStarted < slow->requestStarted)
                    slow = c.get();
            } else if ((c->requests > 0 || now - c->accepted >= 100)
                && (!idle || c->lastActivity < idle->lastActivity)) {
                idle = c.get();
            }
        }
        Connection *victim = idle ? idle : slow;
        if (!victim)
            return false;
        if (victim->wire->pendingInKernel() > 0) {
            unreadBytes.insert(victim);
            continue;
        }
        ++m_connectionsEvicted;
        victim->closing = true;
        victim->wire->close();
        return true;
    }
    return false;
}

void ApiServer::readInput(Connection &c)
{
    if (c.reading)
        return; // the loop below goes on once the nested answer is written
    const std::shared_ptr<Connection> keep = m_connections.value(c.wire);
    QScopedValueRollback<bool> reading(c.reading, true);
    const qint64 now = m_clock.elapsed();
    // A read that did not fill the buffer emptied the socket: one more would only say EAGAIN.
    // The notifier reports anything that arrives later.
    bool drained = false;
    while (!c.stopReading && !c.closing) {
        // Unread bytes stay in the kernel while the client leaves its answers unread.
        c.paused
            = qint64(c.unanswered()) >= m_limits.maxPipelined || c.wire->bytesToWrite() >= m_limits.maxUnsent;
        c.wire->setReading(!c.paused);
        if (c.paused)
            return; // resumed from write() or bytesWritten
        if (c.inputPos >= c.input.size()) {
            if (drained)
                return;
            char buffer[16 * 1024];
            const qsizetype n = c.wire->read(buffer, sizeof buffer);
            drained = n < qsizetype(sizeof buffer);
            if (n <= 0) {
                if (c.wire->atEnd())
                    clientDone(c);
                return;
            }
            c.input = QByteArray(buffer, n);
            c.inputPos = 0;
            c.lastActivity = now;
        }
        const bool wasInRequest = c.scanner.inRequest();
        const qsizetype consumed
            = c.scanner.scan(c.input.constData() + c.inputPos, c.input.size() - c.inputPos);
        if (!wasInRequest && c.scanner.inRequest())
            c.requestStarted = now;
        if (c.scanner.failed()) {
            c.input.clear();
            c.inputPos = 0;
            c.head.clear();
            refuse(c, c.scanner.errorStatus(), c.scanner.errorDetail());
            return;
        }
        if (!c.scanner.complete()) {
            c.head.append(c.input.constData() + c.inputPos, consumed);
            c.inputPos += consumed;
            continue;
        }
        QByteArray bytes;
        if (c.head.isEmpty() && c.inputPos == 0 && consumed == c.input.size()) {
            bytes = std::exchange(c.input, {}); // the common case: one read, one request
            c.inputPos = 0;
        } else {
            bytes = std::exchange(c.head, {});
            bytes.append(c.input.constData() + c.inputPos, consumed);
            c.inputPos += consumed;
        }
        const ScannedRequest scanned = c.scanner.request();
        c.scanner.next();
        c.requestStarted = -1;
        ++c.requests;
        if (!scanned.keepAlive)
            c.stopReading = true;
        deliver(c, std::move(bytes), scanned);
    }
    // No more requests from this connection: what still comes is dropped when it closes.
    if (c.wire->isOpen() && !c.wire->isFinishing())
        c.wire->setReading(false);
}

void ApiServer::clientDone(Connection &c)
{
    // The client has sent all it will (it may have shut only its sending side: it still gets its
    // answers). A request it left unfinished can never complete.
    c.clientDone = true;
    c.stopReading = true;
    c.head.clear();
    if (c.unanswered() == 0)
        beginClose(c);
    // else write() closes after the last answer
}

void ApiServer::deliver(Connection &c, QByteArray bytes, const ScannedRequest &scanned)
{
    if (!c.feed) {
        c.wire->close();
        return;
    }
    Delivery delivery{&c, scanned, false};
    QScopedValueRollback<Delivery *> current(m_delivery, &delivery);
    c.feed->deliver(std::move(bytes));
    if (!delivery.taken) {
        // The scanner is stricter than QHttpServer's parser, so this is not expected; should it
        // happen, the client still gets an answer.
        qCWarning(lcHttp).noquote() << c.wire->peerAddress().toString()
                                    << "sent a request that the HTTP parser did not take";
        refuse(c, 400, QStringLiteral("the request could not be parsed"));
    }
}

void ApiServer::refuse(Connection &c, int status, const QString &detail)
{
    c.stopReading = true;
    Context context;
    context.id = ++m_requestIds;
    context.socket = c.wire;
    context.connectionKey = c.wire;
    context.methodName = c.scanner.method().isEmpty() ? QByteArrayLiteral("-") : c.scanner.method();
    context.rawPath = c.scanner.target();
    context.client = c.wire->peerAddress().toString();
    context.close = true;
    context.startedMs = QDateTime::currentMSecsSinceEpoch();
    context.timer.start();
    context.sequence = c.nextSequence++;
    ++m_inFlight;
    qCInfo(lcHttp).noquote() << context.client << "refused:" << status << detail;
    respond(context, HttpResponse::error(status, detail));
}

void ApiServer::beginClose(Connection &c)
{
    // The wire writes what is queued, shuts our side, and drops what the client still sends until
    // it closes: closing at once with its bytes unread would reset the connection and could lose
    // the answer.
    c.closing = true;
    c.stopReading = true;
    c.wire->finish(m_limits.lingerTime);
}

void ApiServer::sweep()
{
    const qint64 now = m_clock.elapsed();
    QList<Wire *> stalled;
    QList<Wire *> idle;
    QList<Wire *> slow;
    for (const auto &c : std::as_const(m_connections)) {
        if (c->closing)
            continue; // the wire closes by itself within the linger time
        if (c->unanswered() > 0) {
            // Waiting on this service is fine; waiting on a client that does not read is not.
            if (c->wire->bytesToWrite() > 0 && now - c->lastActivity > m_limits.idleTimeout.count())
                stalled.append(c->wire);
            continue;
        }
        if (c->scanner.inRequest()) {
            if (now - c->requestStarted > m_limits.requestTimeout.count())
                slow.append(c->wire);
            continue;
        }
        // A new connection gets the request timeout to begin; between requests, the idle timeout.
        const qint64 limit
            = c->requests == 0 ? m_limits.requestTimeout.count() : m_limits.idleTimeout.count();
        if (now - c->lastActivity > limit)
            idle.append(c->wire);
    }
    for (Wire *wire : std::as_const(stalled)) {
        if (connectionOf(wire))
            wire->close();
    }
    for (Wire *wire : std::as_const(idle)) {
        if (Connection *c = connectionOf(wire))
            beginClose(*c);
    }
    for (Wire *wire : std::as_const(slow)) {
        if (Connection *c = connectionOf(wire)) {
            ++m_connectionsTimedOut;
            refuse(*c, 408,
                QStringLiteral("the request did not arrive whole within %1 ms")
                    .arg(m_limits.requestTimeout.count()));
        }
    }
}

bool ApiServer::handleRequest(const QHttpServerRequest &request, QTcpSocket *socket)
{
    if (!m_delivery || m_delivery->connection->feed != socket) {
        Q_ASSERT_X(false, "ApiServer::handleRequest", "a request that did not come through readInput()");
        return true;
    }
    m_delivery->taken = true;
    Connection &c = *m_delivery->connection;
    Wire *wire = c.wire;
    // Copy what the request needs now: the server reuses `request` for the connection's next one.
    Context context;
    context.id = ++m_requestIds;
    context.socket = wire;
    context.connectionKey = wire;
    context.method = request.method();
    context.methodName = methodName(context.method);
    context.rawPath = m_delivery->scanned.path;
    // Without trusted proxies the client is the peer, whose address was written out on accept.
    context.client = m_c.identity.hasTrustedProxies()
        ? m_c.identity.clientFor(request.remoteAddress(), request.value(QByteArrayLiteral("X-Forwarded-For")))
        : c.peer;
    context.ifNoneMatch = request.value(QByteArrayLiteral("If-None-Match"));
    if (!m_adminToken.isEmpty())
        context.authorization = request.value(QByteArrayLiteral("Authorization"));
    context.head = context.method == QHttpServerRequest::Method::Head;
    context.close = !m_delivery->scanned.keepAlive;
    context.announceKeepAlive = m_delivery->scanned.http10 && m_delivery->scanned.keepAlive;
    context.startedMs = QDateTime::currentMSecsSinceEpoch();
    context.timer.start();
    context.sequence = c.nextSequence++;
    ++m_inFlight;

    dispatch(std::move(context));
    return true;
}

void ApiServer::missingHandler(const QHttpServerRequest &request, QTcpSocket *socket)
{
    // handleRequest() takes every request; this is here because the base class requires it.
    Q_UNUSED(request);
    Q_UNUSED(socket);
}

void ApiServer::dispatch(Context context)
{
    using M = QHttpServerRequest::Method;
    const bool isGet = context.method == M::Get || context.method == M::Head;
    // The path's segments, as views: segments[0] is the empty text before the leading '/'. Only
    // the first five are kept; n counts them all.
    std::array<QByteArrayView, 5> segments;
    qsizetype n = 0;
    for (qsizetype from = 0;; ++n) {
        const qsizetype slash = context.rawPath.indexOf('/', from);
        if (n < qsizetype(segments.size()))
            segments[size_t(n)] = QByteArrayView(context.rawPath)
                                      .sliced(from, (slash < 0 ? context.rawPath.size() : slash) - from);
        if (slash < 0) {
            ++n;
            break;
        }
        from = slash + 1;
    }
    auto notAllowed = [&](const char *allow) {
        HttpResponse r = HttpResponse::error(405,
            QStringLiteral("method %1 is not allowed on %2; use %3")
                .arg(QString::fromLatin1(context.methodName), displayPath(context.rawPath),
                    QLatin1String(allow)));
        r.addHeader("Allow", allow);
        respond(context, r);
    };

    if (n == 2 && (segments[1] == "livez" || segments[1] == "healthz" || segments[1] == "metrics")) {
        context.route = segments[1] == "livez" ? Route::Livez
            : segments[1] == "healthz"         ? Route::Healthz
                                               : Route::Metrics;
        if (!isGet)
            return notAllowed("GET, HEAD");
        if (context.route == Route::Livez)
            return respond(context, HttpResponse::json(200, QByteArrayLiteral("{\"status\":\"ok\"}")));
        if (context.route == Route::Metrics) {
            HttpResponse r;
            r.body = renderMetrics();
            r.addHeader("Content-Type", QByteArrayLiteral("text/plain; version=0.0.4; charset=utf-8"));
            return respond(context, r);
        }
        health(std::move(context));
        return;
    }
    const bool report = n == 3 && segments[1] == "reports";
    const bool refresh = n == 4 && segments[1] == "reports" && segments[3] == "refresh";
    if (report || refresh) {
        context.route = report ? Route::Reports : Route::Refresh;
        if (report && !isGet)
            return notAllowed("GET, HEAD");
        if (refresh && context.method != M::Post)
            return notAllowed("POST");
        if (refresh) {
            if (std::optional<HttpResponse> refused = checkAdmin(context))
                return respond(context, *refused);
        }
        QString why;
        const std::optional<QString> region
            = validateRegion(QByteArray::fromPercentEncoding(segments[2].toByteArray()), &why);
        if (!region) {
            qCInfo(lcHttp).noquote() << context.client << "refused region:" << why;
            return respond(context, HttpResponse::error(422, why));
        }
        if (report)
            getReport(std::move(context), *region);
        else
            refreshReport(std::move(context), *region);
        return;
    }
    respond(context,
        HttpResponse::error(404,
            QStringLiteral("no such resource: %1 %2; see GET /reports/{region}")
                .arg(QString::fromLatin1(context.methodName), displayPath(context.rawPath))));
}

struct ApiServer::ReportAnswer
{
    Report report;
    QByteArray stored; // as stored in Redis
    QByteArray served; // the body, when the cache kept it ready
    QByteArray fingerprint; // likewise, for the ETag
    milliseconds freshFor{0};
    QByteArray outcome; // HIT, STALE, MISS or BYPASS
};

QCoro::Task<> ApiServer::getReport(Context context, QString region)
{
    // The limiter's script and the cache read leave in one write: one round trip for a hit. The
    // coroutine only waits; the answers are built by plain functions, which keeps its frame small.
    QCoro::Task<RateLimitDecision> limitTask = m_c.limiter.check(context.client);
    QCoro::Task<CacheRead> readTask = m_c.cache.read(region);
    const RateLimitDecision decision = co_await limitTask;
    CacheRead read = co_await readTask;
    if (!decision.allowed) {
        answerLimited(context, decision);
        co_return;
    }
    if (read.outcome == CacheRead::Outcome::Hit || read.outcome == CacheRead::Outcome::Stale) {
        const bool hit = read.outcome == CacheRead::Outcome::Hit;
        if (!hit)
            m_c.cache.revalidate(region);
        answerReport(context, decision,
            ReportAnswer{std::move(read.report), std::move(read.stored), std::move(read.servedJson),
                std::move(read.fingerprint), read.freshFor,
                hit ? QByteArrayLiteral("HIT") : QByteArrayLiteral("STALE")});
        co_return;
    }
    announceComputing(context);
    QCoro::Task<CacheFill> filling
        = read.outcome == CacheRead::Outcome::Unavailable ? m_c.cache.bypass(region) : m_c.cache.fill(region);
    CacheFill fill = co_await filling;
    if (fill.outcome == CacheFill::Outcome::Overloaded) {
        answerOverloaded(context, region);
        co_return;
    }
    if (fill.outcome == CacheFill::Outcome::Cancelled) {
        respond(context, HttpResponse::error(503, QStringLiteral("the service is shutting down")),
            QByteArrayLiteral("ERROR"));
        co_return;
    }
    const bool bypass = fill.outcome == CacheFill::Outcome::Bypass;
    answerReport(context, decision,
        ReportAnswer{std::move(fill.report), std::move(fill.stored), {}, {}, fill.freshFor,
            bypass ? QByteArrayLiteral("BYPASS") : QByteArrayLiteral("MISS")});
}

void ApiServer::answerLimited(Context &context, const RateLimitDecision &decision)
{
    // The body of a 429 never changes: built once (a flood of them is the limiter's whole job).
    static const QByteArray limited = HttpResponse::error(429, QStringLiteral("Rate limit exceeded")).body;
    HttpResponse r = decision.failed ? HttpResponse::error(
                         503, QStringLiteral("the rate limiter is unavailable, so the request was refused"))
                                     : HttpResponse::json(429, limited);
    addRateLimitHeaders(r, decision, m_c.limiter.policy());
    r.addHeader("Retry-After", decision.retryAfterSeconds());
    respond(context, r, QByteArrayLiteral("LIMITED"));
}

void ApiServer::answerOverloaded(Context &context, const QString &region)
{
    const qint64 retry = std::max<qint64>(1, (m_c.source.delay().count() + 999) / 1000);
    qCWarning(lcHttp).noquote() << context.client << "refused a miss of" << region << "-"
                                << m_c.cache.computationsUnderWay() << "reports are being computed";
    HttpResponse r = HttpResponse::error(503,
        QStringLiteral("%1 reports are being computed already; try again in %2 s")
            .arg(m_c.cache.computationsUnderWay())
            .arg(retry));
    r.addHeader("Retry-After", retry);
    respond(context, r, QByteArrayLiteral("ERROR"));
}

void ApiServer::answerReport(Context &context, const RateLimitDecision &decision, ReportAnswer a)
{
    const bool cached = a.outcome == "HIT" || a.outcome == "STALE";
    if (a.fingerprint.isEmpty())
        a.fingerprint = ReportCache::fingerprint(a.stored);
    const QByteArray etag = '"' + a.fingerprint + '"';
    const bool notModified = !context.ifNoneMatch.isEmpty() && etagMatches(context.ifNoneMatch, etag);
    // A hit reuses the body the cache kept for these stored bytes: no serialising per request.
    QByteArray body;
    if (!notModified)
        body = cached && !a.served.isEmpty() ? std::move(a.served) : a.report.toJson(cached);
    HttpResponse r = notModified ? HttpResponse{304, {}, {}} : HttpResponse::json(200, std::move(body));
    r.addHeader("X-Cache", a.outcome);
    r.addHeader("ETag", etag);
    if (a.outcome == "BYPASS")
        r.addHeader("Cache-Control", QByteArrayLiteral("no-store"));
    else
        r.addHeader("Cache-Control", QByteArrayLiteral("max-age="), qint64(a.freshFor.count() / 1000));
    const qint64 age
        = std::max<qint64>(0, a.report.generatedAt.msecsTo(QDateTime::currentDateTimeUtc()) / 1000);
    r.addHeader("Age", cached ? age : 0);
    addRateLimitHeaders(r, decision, m_c.limiter.policy());
    respond(context, r, a.outcome);
}

std::optional<HttpResponse> ApiServer::checkAdmin(const Context &context) const
{
    if (m_adminToken.isEmpty())
        return std::nullopt;
    const QByteArray prefix = QByteArrayLiteral("Bearer ");
    if (!context.authorization.startsWith(prefix)) {
        HttpResponse r = HttpResponse::error(401,
            QStringLiteral("invalidating a report needs the admin token: Authorization: Bearer <token>"));
        r.addHeader("WWW-Authenticate", QByteArrayLiteral("Bearer realm=\"cachedash\""));
        return r;
    }
    if (!equalInConstantTime(context.authorization.mid(prefix.size()).trimmed(), m_adminToken)) {
        qCWarning(lcHttp).noquote() << context.client << "sent a wrong admin token";
        return HttpResponse::error(403, QStringLiteral("the admin token is not right"));
    }
    return std::nullopt;
}

QCoro::Task<> ApiServer::refreshReport(Context context, QString region)
{
    QCoro::Task<std::optional<ReportCache::Invalidation>> invalidating = m_c.cache.invalidate(region);
    const std::optional<ReportCache::Invalidation> done = co_await invalidating;
    if (!done) {
        HttpResponse r = HttpResponse::json(503,
            QByteArrayLiteral("{\"detail\":\"Redis is unavailable: the report was not "
                              "invalidated\",\"invalidated\":false}"));
        r.addHeader("Retry-After", QByteArrayLiteral("1"));
        respond(context, r, QByteArrayLiteral("ERROR"));
        co_return;
    }
    qCInfo(lcHttp).noquote() << QStringLiteral("invalidated report:%1 (%2)%3")
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
    respond(context, HttpResponse::json(200, body + '}'));
}

QByteArray ApiServer::renderMetrics() const
{
    static const char *const routeNames[] = {"reports", "refresh", "healthz", "livez", "metrics", "other"};
    QByteArray out;
    out.reserve(8192);
    auto metric = [&out](const char *name, const char *type, const char *help) {
        out += QByteArrayLiteral("# HELP ") + name + ' ' + help + "\n# TYPE " + name + ' ' + type + '\n';
    };
    auto line = [&out](const QByteArray &name, const QByteArray &labels, double value) {
        out += name;
        if (!labels.isEmpty())
            out += '{' + labels + '}';
        out += ' ' + QByteArray::number(value, 'g', 15) + '\n';
    };

    metric("cachedash_http_requests_total", "counter", "HTTP answers by route and status.");
    for (size_t r = 0; r < m_answers.size(); ++r) {
        QList<int> statuses = m_answers[r].keys();
        std::sort(statuses.begin(), statuses.end());
        for (int status : statuses)
            line("cachedash_http_requests_total",
                QByteArrayLiteral("route=\"") + routeNames[r] + "\",status=\"" + QByteArray::number(status)
                    + '"',
                double(m_answers[r].value(status)));
    }
    metric("cachedash_http_request_duration_seconds", "histogram",
        "Time from reading a request to writing its answer.");
    for (size_t r = 0; r < m_durations.size(); ++r) {
        if (m_durations[r].count() > 0)
            out += m_durations[r].render("cachedash_http_request_duration_seconds",
                QByteArrayLiteral("route=\"") + routeNames[r] + '"');
    }
    metric("cachedash_http_requests_in_flight", "gauge", "Requests read and not answered yet.");
    line("cachedash_http_requests_in_flight", {}, m_inFlight);

    metric("cachedash_http_connections_open", "gauge", "HTTP connections open.");
    line("cachedash_http_connections_open", {}, double(m_connections.size()));
    metric("cachedash_http_connections_total", "counter",
        "HTTP connections: accepted; refused (503, all busy at the cap); evicted (idle, closed to make "
        "room); timed_out (a request did not arrive whole in time).");
    line("cachedash_http_connections_total", QByteArrayLiteral("event=\"accepted\""),
        double(m_connectionsAccepted));
    line("cachedash_http_connections_total", QByteArrayLiteral("event=\"refused\""),
        double(m_connectionsRefused));
    line("cachedash_http_connections_total", QByteArrayLiteral("event=\"evicted\""),
        double(m_connectionsEvicted));
    line("cachedash_http_connections_total", QByteArrayLiteral("event=\"timed_out\""),
        double(m_connectionsTimedOut));

    metric("cachedash_cache_requests_total", "counter", "Report requests by cache outcome.");
    for (const char *outcome : {"HIT", "MISS", "STALE", "BYPASS", "LIMITED", "ERROR"})
        line("cachedash_cache_requests_total",
            QByteArrayLiteral("outcome=\"") + QByteArray(outcome).toLower() + '"',
            double(m_outcomes.value(outcome)));
    const ReportCache::Counters &cache = m_c.cache.counters();
    metric("cachedash_cache_writes_total", "counter", "Reports stored in Redis.");
    line("cachedash_cache_writes_total", {}, double(cache.writes));
    metric(
        "cachedash_cache_writes_discarded_total", "counter", "Computations whose write a refresh cancelled.");
    line("cachedash_cache_writes_discarded_total", {}, double(cache.writesDiscarded));
    metric("cachedash_cache_shared_total", "counter", "Misses answered by another request's computation.");
    line("cachedash_cache_shared_total", {}, double(cache.shared));
    metric("cachedash_cache_corrupt_entries_total", "counter", "Invalid values found under report keys.");
    line("cachedash_cache_corrupt_entries_total", {}, double(cache.corrupt));
    metric("cachedash_cache_revalidations_total", "counter", "Background recomputations of stale reports.");
    line("cachedash_cache_revalidations_total", {}, double(cache.revalidations));

    metric("cachedash_report_computations_total", "counter", "Slow report computations started.");
    line("cachedash_report_computations_total", {}, double(m_c.source.computations()));
    metric("cachedash_report_computations_in_flight", "gauge", "Report computations under way.");
    line("cachedash_report_computations_in_flight", {}, m_c.source.inFlight());
    metric(
        "cachedash_report_computation_duration_seconds", "histogram", "How long report computations took.");
    out += m_c.source.computationTimes().render("cachedash_report_computation_duration_seconds");

    const SlidingWindowLimiter::Counters &limiter = m_c.limiter.counters();
    metric("cachedash_ratelimit_decisions_total", "counter",
        "Limiter decisions: allowed, limited, or error (Redis could not decide).");
    line("cachedash_ratelimit_decisions_total", QByteArrayLiteral("decision=\"allowed\""),
        double(limiter.allowed));
    line("cachedash_ratelimit_decisions_total", QByteArrayLiteral("decision=\"limited\""),
        double(limiter.limited));
    line("cachedash_ratelimit_decisions_total", QByteArrayLiteral("decision=\"error\""),
        double(limiter.errors));

    const RedisClient::Stats redis = m_c.redis.stats();
    metric("cachedash_redis_up", "gauge", "1 while the Redis connection is ready.");
    line("cachedash_redis_up", {}, m_c.redis.isReady() ? 1 : 0);
    metric("cachedash_redis_commands_total", "counter", "Commands sent to Redis.");
    line("cachedash_redis_commands_total", {}, double(redis.commands));
    metric(
        "cachedash_redis_writes_total", "counter", "Socket writes to Redis (pipelined commands share one).");
    line("cachedash_redis_writes_total", {}, double(redis.writeEvents));
    metric("cachedash_redis_timeouts_total", "counter", "Redis commands that timed out.");
    line("cachedash_redis_timeouts_total", {}, double(redis.timeouts));
    metric("cachedash_redis_connects_total", "counter", "Redis connections that became ready.");
    line("cachedash_redis_connects_total", {}, double(redis.connects));
    metric("cachedash_redis_command_duration_seconds", "histogram", "Round-trip time of Redis commands.");
    out += m_c.redis.roundTrips().render("cachedash_redis_command_duration_seconds");
    return out;
}

QCoro::Task<> ApiServer::health(Context context)
{
    RedisPendingReply ping = m_c.redis.ping();
    const RedisReply pong = co_await ping;
    if (pong.isOk())
        respond(context, HttpResponse::json(200, QByteArrayLiteral("{\"status\":\"ok\",\"redis\":\"up\"}")));
    else
        respond(context,
            HttpResponse::json(503,
                QByteArrayLiteral("{\"status\":\"degraded\",\"redis\":\"down\",\"detail\":")
                    + jsonString(pong.errorText()) + '}'));
}

RequestRecord ApiServer::recordOf(const Context &context)
{
    RequestRecord record;
    record.id = context.id;
    record.startedMsSinceEpoch = context.startedMs;
    record.client = context.client;
    record.method = context.methodName;
    record.path = displayPath(context.rawPath);
    return record;
}

void ApiServer::announceComputing(const Context &context)
{
    static const QMetaMethod startedSignal = QMetaMethod::fromSignal(&ApiServer::requestStarted);
    if (isSignalConnected(startedSignal))
        Q_EMIT requestStarted(recordOf(context));
}

void ApiServer::respond(Context &context, const HttpResponse &response, QByteArray outcome)
{
    Q_ASSERT(!context.answered);
    context.answered = true;
    --m_inFlight;
    if (context.socket)
        write(context.connectionKey, context.sequence,
            response.serialize(!context.head, context.close, context.announceKeepAlive), context.close);

    if (outcome.isEmpty() && response.status >= 400)
        outcome = QByteArrayLiteral("ERROR");
    const size_t route = size_t(context.route);
    ++m_answers[route][response.status];
    m_durations[route].observe(std::chrono::nanoseconds(context.timer.nsecsElapsed()));
    if (context.route == Route::Reports && !outcome.isEmpty())
        ++m_outcomes[outcome];
    static const QMetaMethod finishedSignal = QMetaMethod::fromSignal(&ApiServer::requestFinished);
    const bool observed = isSignalConnected(finishedSignal);
    if (!observed && !m_accessLog)
        return;
    RequestRecord record = recordOf(context);
    record.status = response.status;
    record.outcome = outcome;
    record.latencyMs = double(context.timer.nsecsElapsed()) / 1e6;
    record.retryAfterSeconds = response.header(QByteArrayLiteral("Retry-After")).toLongLong();
    if (m_accessLog) {
        // One pass over the pattern: a path may contain "%4" itself.
        QString line = QStringLiteral("%1 %2 %3 %4 %5 %6ms")
                           .arg(record.client, QString::fromLatin1(record.method), record.path,
                               QString::number(record.status),
                               QString::fromLatin1(outcome.isEmpty() ? QByteArrayLiteral("-") : outcome),
                               QString::number(record.latencyMs, 'f', 1));
        if (record.retryAfterSeconds)
            line += QStringLiteral(" Retry-After=%1").arg(record.retryAfterSeconds);
        qCInfo(lcHttp).noquote() << line;
    }
    if (observed)
        Q_EMIT requestFinished(record);
}

void ApiServer::write(Wire *key, quint64 sequence, QByteArray bytes, bool close)
{
    Connection *c = connectionOf(key);
    if (!c || c->closing)
        return;
    // Answers leave in request order (RFC 9112 pipelining): one that finished early waits its turn.
    if (sequence != c->nextToWrite) {
        c->ready.emplace(sequence, Connection::Answer{std::move(bytes), close});
        return;
    }
    Wire *socket = c->wire;
    Connection::Answer answer{std::move(bytes), close};
    while (true) {
        socket->write(answer.bytes);
        ++c->nextToWrite;
        c->lastActivity = m_clock.elapsed();
        if (answer.close) {
            beginClose(*c);
            return;
        }
        const auto next = c->ready.find(c->nextToWrite);
        if (next == c->ready.end())
            break;
        answer = std::move(next->second);
        c->ready.erase(next);
    }
    if (c->clientDone && c->unanswered() == 0) {
        beginClose(*c);
        return;
    }
    if (c->paused && !c->reading) {
        // Reading paused for these answers: go on from the event loop, not from inside whatever
        // completed this answer.
        QTimer::singleShot(0, this, [this, wire = c->wire] {
            if (Connection *again = connectionOf(wire); again && again->paused)
                readInput(*again);
        });
    }
}

} // namespace Cachedash
