// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "testhttp.h"

#include <QByteArray>
#include <QList>
#include <QString>

#include <functional>
#include <memory>

class QTcpSocket;
class QUrl;

namespace Cachedash::Test {

// One raw TCP connection to a server under test, for what QNetworkAccessManager would not send or
// would not show: malformed, partial and pipelined requests, clients that half-close or vanish,
// answers byte for byte. Its waits run the event loop, so a server in the test's thread keeps
// serving, and end as soon as what they wait for has arrived.
class RawConnection
{
public:
    // Starts connecting to 127.0.0.1:port; bytes written meanwhile are sent once connected.
    explicit RawConnection(quint16 port);
    // Starts connecting to the URL's host and port.
    explicit RawConnection(const QUrl &server);
    RawConnection(RawConnection &&) noexcept;
    RawConnection &operator=(RawConnection &&) noexcept;
    ~RawConnection();

    bool waitForConnected(int timeoutMs = 2000);
    bool isConnected() const;
    // Not connected (any more): the server closed the connection, or it never opened.
    bool isClosed() const;

    // Sent at once as far as the kernel takes them (or as soon as connected); bytesToWrite() of
    // socket() is what is left.
    void write(const QByteArray &bytes);
    // Shuts the sending side only, as `nc -q1` does after its request: the server sees the end of
    // the stream and may still answer.
    void halfClose();
    // Goes away at once, without reading what is on its way.
    void abort();

    // Every byte received so far.
    const QByteArray &received();
    // Every complete answer received so far, in order.
    const QList<HttpResult> &answers();

    // Waits until `count` complete answers have come, the server closed the connection, or
    // timeoutMs passed; returns every answer received.
    const QList<HttpResult> &waitForAnswers(int count, int timeoutMs = 10000);
    // Waits until the server closed the connection or timeoutMs passed; returns every byte received.
    const QByteArray &waitForClose(int timeoutMs);
    // Waits until done(every byte received so far) holds or timeoutMs passed; returns done(). For
    // what the answer parser cannot frame, such as the answer to a HEAD request.
    bool waitForReceived(const std::function<bool(const QByteArray &)> &done, int timeoutMs);

    QTcpSocket &socket() { return *m_socket; }

private:
    void connectTo(const QString &host, quint16 port);
    void readAvailable();

    std::unique_ptr<QTcpSocket> m_socket;
    QByteArray m_received;
    QList<HttpResult> m_answers;
    qsizetype m_parsed = 0; // m_received up to here holds m_answers
};

} // namespace Cachedash::Test
