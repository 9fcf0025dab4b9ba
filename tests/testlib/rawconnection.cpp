// SPDX-License-Identifier: GPL-3.0-or-later
#include "rawconnection.h"

#include "testwait.h"

#include <QTcpSocket>
#include <QUrl>

#include <sys/socket.h>

namespace Cachedash::Test {

RawConnection::RawConnection(quint16 port)
{
    connectTo(QStringLiteral("127.0.0.1"), port);
}

RawConnection::RawConnection(const QUrl &server)
{
    connectTo(server.host(), quint16(server.port()));
}

RawConnection::RawConnection(RawConnection &&) noexcept = default;
RawConnection &RawConnection::operator=(RawConnection &&) noexcept = default;

RawConnection::~RawConnection()
{
    if (m_socket)
        m_socket->abort();
}

void RawConnection::connectTo(const QString &host, quint16 port)
{
    m_socket = std::make_unique<QTcpSocket>();
    m_socket->connectToHost(host, port);
}

bool RawConnection::waitForConnected(int timeoutMs)
{
    // The kernel completes a loopback connection from its listen queue: no need for the server's
    // event loop here.
    return m_socket->waitForConnected(timeoutMs);
}

bool RawConnection::isConnected() const
{
    return m_socket->state() == QAbstractSocket::ConnectedState;
}

bool RawConnection::isClosed() const
{
    return m_socket->state() == QAbstractSocket::UnconnectedState;
}

void RawConnection::write(const QByteArray &bytes)
{
    m_socket->write(bytes);
    // Hands the kernel what it takes now, rather than at the next turn of the event loop: a test
    // that goes on without one (a blocking probe, a sleep) has its bytes on the wire all the same.
    // Before the connection is up, they leave once it is.
    if (isConnected())
        m_socket->flush();
}

void RawConnection::halfClose()
{
    // What was written must leave before the sending side is shut.
    m_socket->waitForConnected(2000);
    while (m_socket->bytesToWrite() > 0 && m_socket->waitForBytesWritten(2000)) { }
    ::shutdown(int(m_socket->socketDescriptor()), SHUT_WR);
}

void RawConnection::abort()
{
    m_socket->abort();
}

void RawConnection::readAvailable()
{
    m_received += m_socket->readAll();
    HttpResult answer;
    while (const qsizetype length = TestHttp::parseResponse(m_received, m_parsed, &answer)) {
        m_answers.append(std::move(answer));
        m_parsed += length;
    }
}

const QByteArray &RawConnection::received()
{
    readAvailable();
    return m_received;
}

const QList<HttpResult> &RawConnection::answers()
{
    readAvailable();
    return m_answers;
}

const QList<HttpResult> &RawConnection::waitForAnswers(int count, int timeoutMs)
{
    waitUntil([this, count] { return answers().size() >= count || isClosed(); }, timeoutMs);
    return answers();
}

const QByteArray &RawConnection::waitForClose(int timeoutMs)
{
    waitUntil([this] { return isClosed(); }, timeoutMs);
    return received();
}

bool RawConnection::waitForReceived(const std::function<bool(const QByteArray &)> &done, int timeoutMs)
{
    return waitUntil([this, &done] { return done(received()); }, timeoutMs);
}

} // namespace Cachedash::Test
