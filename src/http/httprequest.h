// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QElapsedTimer>
#include <QHostAddress>
#include <QHttpServerRequest>
#include <QPointer>
#include <QString>

namespace Cachedash {

struct HttpResponse;
class Wire;

// One request as the server hands it over: what was asked, by whom, and where its answer goes.
// A value: the handler keeps it across suspensions and answers it with HttpServer::respond().
struct HttpRequest
{
    using Method = QHttpServerRequest::Method;

    quint64 id = 0; // increasing per server, refusals included
    Method method = Method::Unknown;
    QByteArray methodName; // GET, POST, ...; for a refusal what the request line said, or "-"
    QByteArray path; // as sent: percent-encoded, without the query
    QString peer; // the peer's address as text, IPv4-mapped IPv6 unwrapped (ClientIdentity)
    qint64 startedMs = 0; // wall clock, when it was read
    QElapsedTimer timer; // started when it was read
    bool head = false; // HEAD: the answer goes without its body
    bool close = false; // the connection closes after this answer

private:
    friend class HttpServer;
    bool m_announceKeepAlive = false; // HTTP/1.0 with Connection: keep-alive
    QPointer<Wire> m_wire; // null once the connection has gone
    Wire *m_connectionKey = nullptr; // for the server's lookups only: may dangle
    quint64 m_sequence = 0; // the request's place on its connection
};

// What only the parser holds: the header fields and the peer. Valid during HttpHandler::handle()
// only (the parser reuses its request object for the connection's next request): copy what is
// needed before returning.
class HttpHeaders
{
public:
    explicit HttpHeaders(const QHttpServerRequest &request)
        : m_request(request)
    { }
    // The field's value, or empty. Case-insensitive.
    QByteArray value(const QByteArray &name) const { return m_request.value(name); }
    QHostAddress peerAddress() const { return m_request.remoteAddress(); }

private:
    const QHttpServerRequest &m_request;
};

// What the server hands requests to. Every request gets exactly one HttpServer::respond(), now or
// later; the server writes the answers of a connection in request order.
class HttpHandler
{
public:
    virtual ~HttpHandler() = default;
    // A complete, well-framed request.
    virtual void handle(HttpRequest request, const HttpHeaders &headers) = 0;
    // A request the server refused itself (malformed, too large, too slow, unparsable): answer it
    // with `refusal`; the connection closes after it.
    virtual void handleRefusal(HttpRequest request, const HttpResponse &refusal) = 0;
};

} // namespace Cachedash
