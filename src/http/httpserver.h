// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "httprequest.h"
#include "httprequestscanner.h"
#include "httpresponse.h"

#include <QAbstractHttpServer>
#include <QElapsedTimer>
#include <QHash>
#include <QHostAddress>

#include <chrono>
#include <memory>

class QTcpSocket;
class QTimer;

namespace Cachedash {

class Wire;

// The HTTP/1.1 transport: it listens, owns the connections, reads requests, hands each one to an
// HttpHandler, and writes the answers back. It knows nothing of what the requests mean.
//
// Every request gets exactly one answer, written in request order on its connection (RFC 9112
// pipelining), and never to a socket that has gone.
//
// QHttpServer only parses. Each connection's bytes go through an HttpRequestScanner first, which
// bounds the request line, the head and the body, and refuses what is malformed (the handler
// answers the refusal, and the connection closes). Complete requests are handed to QHttpServer's
// parser one at a time, so pipelined requests are parsed in order. Connections are capped (the
// longest idle one makes room for a new one, else 503), a request must arrive whole within the
// request timeout (slow clients get 408), idle keep-alive connections close after the idle
// timeout, and a connection stops being read while its client leaves answers unread.
class HttpServer : public QAbstractHttpServer
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

    struct Counters
    {
        quint64 accepted = 0;
        quint64 refused = 0; // 503: at the cap, and every connection busy
        quint64 evicted = 0; // idle, closed to make room
        quint64 timedOut = 0; // a request did not arrive whole in time (408)
    };

    explicit HttpServer(QObject *parent = nullptr);
    ~HttpServer() override;

    // Who answers the requests; set before listening.
    void setHandler(HttpHandler *handler) { m_handler = handler; }
    void setLimits(const Limits &limits) { m_limits = limits; }
    const Limits &limits() const { return m_limits; }
    // Starts listening; on failure returns false and sets *error.
    bool listenOn(const QHostAddress &address, quint16 port, QString *error);
    quint16 port() const { return m_port; }
    // Stops accepting connections; requests in flight still get their answer.
    void stopListening();

    int connectionCount() const { return int(m_connections.size()); }
    const Counters &counters() const { return m_counters; }

    // Writes the answer to `request` in its turn on its connection (dropped if the connection has
    // gone). Exactly once per request handed to the handler.
    void respond(const HttpRequest &request, const HttpResponse &response);

protected:
    bool handleRequest(const QHttpServerRequest &request, QTcpSocket *socket) override;
    void missingHandler(const QHttpServerRequest &request, QTcpSocket *socket) override;

private:
    class Listener;
    struct Connection;
    struct Delivery; // a scanned request on its way through QHttpServer's parser

    HttpRequest requestOn(Connection &c);
    void write(Wire *wire, quint64 sequence, QByteArray bytes, bool close);
    void accept(qintptr descriptor);
    bool evictOne();
    Connection *connectionOf(Wire *wire) const;
    void readInput(Connection &c);
    void deliver(Connection &c, QByteArray bytes, const ScannedRequest &scanned);
    // Has the handler answer a request the connection guard refused, in its turn, and closes the
    // connection after it.
    void refuse(Connection &c, int status, const QString &detail);
    void beginClose(Connection &c);
    void clientDone(Connection &c);
    void sweep();

    HttpHandler *m_handler = nullptr;
    Limits m_limits;
    quint16 m_port = 0;
    Listener *m_listener = nullptr;
    QTimer *m_sweeper = nullptr;
    QElapsedTimer m_clock;
    Delivery *m_delivery = nullptr;
    QHash<Wire *, std::shared_ptr<Connection>> m_connections;
    Counters m_counters;
    quint64 m_requestIds = 0;
};

} // namespace Cachedash
