// SPDX-License-Identifier: GPL-3.0-or-later
#include "tlsconnection_p.h"

#include "redislogging.h"
#include "redistls_p.h"
#include "redisurl.h"

#include <QNetworkProxy>

#include <hiredis/hiredis.h>

namespace Cachedash::detail {

TlsConnection *TlsConnection::open(
    const RedisUrl &url, const std::shared_ptr<const RedisTlsContext> &tls, Owner *owner, QString *error)
{
    if (!tls) {
        *error = QStringLiteral("a rediss:// URL needs TLS settings");
        return nullptr;
    }
    auto *connection = new TlsConnection(tls, url, owner);
    QSslSocket &socket = connection->m_socket;
    socket.setProxy(QNetworkProxy::NoProxy);
    socket.setSslConfiguration(tls->d().configuration);
    // Verified against the host of the URL, which also goes out as SNI (for a name, not an address).
    socket.connectToHostEncrypted(url.host, url.port);
    return connection;
}

TlsConnection::TlsConnection(std::shared_ptr<const RedisTlsContext> tls, const RedisUrl &url, Owner *owner)
    : m_tls(std::move(tls))
    , m_host(url.host)
    , m_endpoint(RedisUrl::Address{url.host, url.port}.toString())
    , m_reader(redisReaderCreate())
    , m_owner(owner)
{
    connect(&m_socket, &QSslSocket::connected, this, &TlsConnection::onConnected);
    connect(&m_socket, &QSslSocket::encrypted, this, &TlsConnection::onEncrypted);
    connect(&m_socket, &QSslSocket::readyRead, this, &TlsConnection::onReadyRead);
    connect(&m_socket, &QSslSocket::sslErrors, this, &TlsConnection::onSslErrors);
    connect(&m_socket, &QSslSocket::errorOccurred, this, &TlsConnection::onSocketError);
    connect(&m_socket, &QSslSocket::disconnected, this,
        [this] { fail(m_error.isEmpty() ? QStringLiteral("the server closed the connection") : m_error); });
}

TlsConnection::~TlsConnection()
{
    for (PendingCommand *command : std::exchange(m_queue, {})) {
        if (command)
            command->complete(m_closedWith);
        release(command);
    }
    redisReaderFree(m_reader);
}

void TlsConnection::release(PendingCommand *command)
{
    if (command && !command->ref.deref())
        delete command;
}

bool TlsConnection::send(int argc, const char **argv, const size_t *lengths, PendingCommand *command)
{
    if (!m_owner)
        return false;
    char *formatted = nullptr;
    const int length = redisFormatCommandArgv(&formatted, argc, argv, lengths);
    if (length < 0)
        return false;
    m_out.append(formatted, length);
    redisFreeCommand(formatted);
    if (command)
        command->ref.ref(); // held until its reply
    m_queue.push_back(command);
    scheduleWrite();
    return true;
}

void TlsConnection::scheduleWrite()
{
    // Like a write notifier: after everything else this turn of the event loop does, so that the
    // commands issued meanwhile leave together.
    if (m_writeQueued)
        return;
    m_writeQueued = true;
    QMetaObject::invokeMethod(
        this,
        [this] {
            m_writeQueued = false;
            writeNow();
        },
        Qt::QueuedConnection);
}

void TlsConnection::writeSoon()
{
    scheduleWrite();
}

void TlsConnection::flush()
{
    writeNow();
}

void TlsConnection::writeNow()
{
    if (!m_owner || !m_up)
        return; // what is queued leaves once the handshake is done
    m_owner->aboutToWrite(this);
    if (!m_owner || m_out.isEmpty())
        return;
    m_socket.write(m_out);
    m_out.truncate(0);
    // Encrypts and hands the bytes to the kernel now, rather than at a later turn.
    m_socket.flush();
}

QString TlsConnection::connectTimeoutReason(std::chrono::milliseconds timeout)
{
    // Connected, and the handshake unanswered: a plain port waiting for a command's end.
    m_refused = m_tcpUp;
    if (!m_tcpUp)
        return QStringLiteral("connecting timed out after %1 ms").arg(timeout.count());
    return QStringLiteral("the TLS handshake got no answer within %1 ms: the server may speak plain TCP "
                          "on this port (then use redis://)")
        .arg(timeout.count());
}

void TlsConnection::close(RedisReply failure)
{
    if (!m_owner)
        return;
    m_owner = nullptr;
    m_closedWith = std::move(failure);
    disconnect(&m_socket, nullptr, this, nullptr);
    for (PendingCommand *command : std::exchange(m_queue, {})) {
        if (command)
            command->complete(m_closedWith);
        release(command);
    }
    m_socket.abort();
    deleteLater();
}

void TlsConnection::onConnected()
{
    m_tcpUp = true;
    m_socket.setSocketOption(QAbstractSocket::LowDelayOption, 1);
}

void TlsConnection::onEncrypted()
{
    if (!m_owner)
        return;
    if (m_tls->options().insecureSkipVerify)
        qCWarning(lcRedis).noquote() << "TLS to" << m_endpoint
                                     << "is NOT verified (--redis-insecure-skip-tls-verify): anyone on the "
                                        "path can read and change this connection";
    m_up = true;
    m_owner->connectionUp(this);
    writeNow(); // the handshake commands queued while connecting
}

void TlsConnection::onReadyRead()
{
    char buffer[16 * 1024];
    for (;;) {
        const qint64 n = m_socket.read(buffer, sizeof buffer);
        if (n <= 0)
            break;
        if (redisReaderFeed(m_reader, buffer, size_t(n)) != REDIS_OK) {
            fail(QStringLiteral("Redis protocol error: %1").arg(QString::fromLatin1(m_reader->errstr)));
            return;
        }
    }
    while (m_owner) {
        void *reply = nullptr;
        if (redisReaderGetReply(m_reader, &reply) != REDIS_OK) {
            fail(QStringLiteral("Redis protocol error: %1").arg(QString::fromLatin1(m_reader->errstr)));
            return;
        }
        if (!reply)
            break;
        PendingCommand *command = nullptr;
        if (!m_queue.empty()) {
            command = m_queue.front();
            m_queue.pop_front();
        }
        m_owner->replyReceived(this, command, static_cast<const redisReply *>(reply));
        freeReplyObject(reply);
        if (command && !m_owner)
            command->complete(m_closedWith); // closed from inside: a no-op if it got its reply
        release(command);
    }
}

void TlsConnection::onSslErrors(const QList<QSslError> &errors)
{
    // Qt fails the handshake right after this, unless the peer is not verified at all
    // (--redis-insecure-skip-tls-verify), when Qt still reports what it noticed.
    if (m_tls->options().insecureSkipVerify)
        return;
    m_certificateProblem = describeCertificateErrors(errors, m_host, !m_tls->options().caCertFile.isEmpty());
}

QString TlsConnection::describeSocketError(QAbstractSocket::SocketError error)
{
    const QString text = m_socket.errorString();
    m_refused = true;
    if (!m_up && !m_certificateProblem.isEmpty())
        return m_certificateProblem;
    if (text.contains(QLatin1String("certificate required")))
        return QStringLiteral("the server requires a client certificate: give --redis-client-cert and "
                              "--redis-client-key");
    const bool refusedOurs = text.contains(QLatin1String("alert bad certificate"))
        || text.contains(QLatin1String("alert unknown ca"))
        || text.contains(QLatin1String("alert certificate unknown"))
        || (text.contains(QLatin1String("alert handshake failure"))
            && !m_tls->options().clientCertFile.isEmpty());
    if (refusedOurs)
        return QStringLiteral("the server refused the client certificate (%1)").arg(text);
    if (text.contains(QLatin1String("key values mismatch"))
        || text.contains(QLatin1String("Error loading private key")))
        return QStringLiteral("the key of --redis-client-key does not belong to the certificate of "
                              "--redis-client-cert (%1)")
            .arg(text);
    if (text.contains(QLatin1String("wrong version number"))
        || text.contains(QLatin1String("packet length too long")))
        return QStringLiteral("the server does not speak TLS on this port (%1): use redis://").arg(text);
    m_refused = false;
    if (error == QAbstractSocket::RemoteHostClosedError && !m_up)
        return QStringLiteral("the server closed the connection during the TLS handshake");
    if (error == QAbstractSocket::SslHandshakeFailedError)
        return QStringLiteral("the TLS handshake failed: %1").arg(text);
    return text;
}

void TlsConnection::onSocketError(QAbstractSocket::SocketError error)
{
    fail(describeSocketError(error));
}

void TlsConnection::fail(const QString &why)
{
    if (!m_owner)
        return;
    m_error = why;
    disconnect(&m_socket, nullptr, this, nullptr);
    // The commands in flight get no reply, then the owner hears why.
    while (!m_queue.empty() && m_owner) {
        PendingCommand *command = m_queue.front();
        m_queue.pop_front();
        m_owner->replyReceived(this, command, nullptr);
        if (command && !m_owner)
            command->complete(m_closedWith);
        release(command);
    }
    if (Owner *owner = std::exchange(m_owner, nullptr))
        owner->connectionDown(this, why);
    m_socket.abort();
    deleteLater();
}

} // namespace Cachedash::detail
