// SPDX-License-Identifier: GPL-3.0-or-later
#include "httpserver.h"

#include "clientidentity.h"
#include "httplogging.h"
#include "parserfeed_p.h"
#include "wire.h"

#include <QDateTime>
#include <QHttpServerRequest>
#include <QScopedValueRollback>
#include <QSet>
#include <QTcpServer>
#include <QTimer>

#include <map>

using namespace std::chrono;

namespace Cachedash {

using detail::ParserFeed;

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

} // namespace

struct HttpServer::Connection
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

struct HttpServer::Delivery
{
    Connection *connection = nullptr;
    ScannedRequest scanned;
    bool taken = false;
};

// Takes the listening socket's connections for HttpServer, which wraps each before QHttpServer
// sees it.
class HttpServer::Listener final : public QTcpServer
{
public:
    explicit Listener(HttpServer *server)
        : QTcpServer(server)
        , m_server(server)
    { }

    using QTcpServer::addPendingConnection;

protected:
    void incomingConnection(qintptr descriptor) override { m_server->accept(descriptor); }

private:
    HttpServer *m_server;
};

HttpServer::HttpServer(QObject *parent)
    : QAbstractHttpServer(parent)
{
    m_clock.start();
    m_sweeper = new QTimer(this);
    m_sweeper->setInterval(250);
    connect(m_sweeper, &QTimer::timeout, this, &HttpServer::sweep);
}

HttpServer::~HttpServer()
{
    // The wires are children and go after this; let nothing of theirs call back.
    for (const auto &c : std::as_const(m_connections))
        c->wire->disconnect(this);
}

bool HttpServer::listenOn(const QHostAddress &address, quint16 port, QString *error)
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

void HttpServer::stopListening()
{
    for (QTcpServer *server : servers())
        server->close();
}

HttpServer::Connection *HttpServer::connectionOf(Wire *wire) const
{
    const auto it = m_connections.constFind(wire);
    return it == m_connections.cend() ? nullptr : it->get();
}

void HttpServer::accept(qintptr descriptor)
{
    auto *wire = new Wire(descriptor, this);
    connect(wire, &Wire::closed, wire, &QObject::deleteLater);
    ++m_counters.accepted;
    if (m_connections.size() >= m_limits.maxConnections && !evictOne()) {
        ++m_counters.refused;
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

bool HttpServer::evictOne()
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
        ++m_counters.evicted;
        victim->closing = true;
        victim->wire->close();
        return true;
    }
    return false;
}

void HttpServer::readInput(Connection &c)
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

void HttpServer::clientDone(Connection &c)
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

void HttpServer::deliver(Connection &c, QByteArray bytes, const ScannedRequest &scanned)
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

void HttpServer::refuse(Connection &c, int status, const QString &detail)
{
    c.stopReading = true;
    HttpRequest request = requestOn(c);
    request.methodName = c.scanner.method().isEmpty() ? QByteArrayLiteral("-") : c.scanner.method();
    request.path = c.scanner.target();
    request.close = true;
    qCInfo(lcHttp).noquote() << request.peer << "refused:" << status << detail;
    const HttpResponse refusal = HttpResponse::error(status, detail);
    if (m_handler)
        m_handler->handleRefusal(std::move(request), refusal);
    else
        respond(request, refusal);
}

HttpRequest HttpServer::requestOn(Connection &c)
{
    HttpRequest request;
    request.id = ++m_requestIds;
    request.peer = c.peer;
    request.startedMs = QDateTime::currentMSecsSinceEpoch();
    request.timer.start();
    request.m_wire = c.wire;
    request.m_connectionKey = c.wire;
    request.m_sequence = c.nextSequence++;
    return request;
}

void HttpServer::beginClose(Connection &c)
{
    // The wire writes what is queued, shuts our side, and drops what the client still sends until
    // it closes: closing at once with its bytes unread would reset the connection and could lose
    // the answer.
    c.closing = true;
    c.stopReading = true;
    c.wire->finish(m_limits.lingerTime);
}

void HttpServer::sweep()
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
            ++m_counters.timedOut;
            refuse(*c, 408,
                QStringLiteral("the request did not arrive whole within %1 ms")
                    .arg(m_limits.requestTimeout.count()));
        }
    }
}

bool HttpServer::handleRequest(const QHttpServerRequest &request, QTcpSocket *socket)
{
    if (!m_delivery || m_delivery->connection->feed != socket) {
        Q_ASSERT_X(false, "HttpServer::handleRequest", "a request that did not come through readInput()");
        return true;
    }
    m_delivery->taken = true;
    Connection &c = *m_delivery->connection;
    // What the handler needs later is copied now: the parser reuses `request` for the next one.
    HttpRequest r = requestOn(c);
    r.method = request.method();
    r.methodName = methodName(r.method);
    r.path = m_delivery->scanned.path;
    r.head = r.method == HttpRequest::Method::Head;
    r.close = !m_delivery->scanned.keepAlive;
    r.m_announceKeepAlive = m_delivery->scanned.http10 && m_delivery->scanned.keepAlive;
    if (m_handler)
        m_handler->handle(std::move(r), HttpHeaders(request));
    else
        respond(r, HttpResponse::error(503, QStringLiteral("the service is not ready")));
    return true;
}

void HttpServer::missingHandler(const QHttpServerRequest &request, QTcpSocket *socket)
{
    // handleRequest() takes every request; this is here because the base class requires it.
    Q_UNUSED(request);
    Q_UNUSED(socket);
}

void HttpServer::respond(const HttpRequest &request, const HttpResponse &response)
{
    if (request.m_wire)
        write(request.m_connectionKey, request.m_sequence,
            response.serialize(!request.head, request.close, request.m_announceKeepAlive), request.close);
}

void HttpServer::write(Wire *key, quint64 sequence, QByteArray bytes, bool close)
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
