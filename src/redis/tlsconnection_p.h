// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "redisconnection.h"

#include <QByteArray>
#include <QObject>
#include <QSslError>
#include <QSslSocket>

#include <deque>
#include <memory>

struct redisReader;

namespace Cachedash::detail {

// A rediss:// connection: QSslSocket on the Qt event loop (TLS 1.2 or newer, the certificate
// checked by Qt against the CAs and the host name, SNI sent), commands formatted and replies
// parsed by hiredis (redisFormatCommandArgv, redisReader), the same as on a plain connection.
class TlsConnection : public QObject, public RedisConnection
{
    Q_OBJECT

public:
    static TlsConnection *open(
        const RedisUrl &url, const std::shared_ptr<const RedisTlsContext> &tls, Owner *owner, QString *error);

    bool send(int argc, const char **argv, const size_t *lengths, PendingCommand *command) override;
    size_t pendingBytes() const override { return size_t(m_out.size()); }
    void flush() override;
    void writeSoon() override;
    bool isUp() const override { return m_up; }
    QString connectTimeoutReason(std::chrono::milliseconds timeout) override;
    QString errorString() const override { return m_error; }
    bool refused() const override { return m_refused; }
    void close(RedisReply failure) override;

private:
    TlsConnection(std::shared_ptr<const RedisTlsContext> tls, const RedisUrl &url, Owner *owner);
    ~TlsConnection() override;

    void onConnected();
    void onEncrypted();
    void onReadyRead();
    void onSslErrors(const QList<QSslError> &errors);
    void onSocketError(QAbstractSocket::SocketError error);
    // Why the socket failed, in words a user acts on; sets m_refused when the server or its
    // certificate refused us.
    QString describeSocketError(QAbstractSocket::SocketError error);
    void fail(const QString &why);
    void scheduleWrite();
    void writeNow();
    void release(PendingCommand *command);

    QSslSocket m_socket;
    std::shared_ptr<const RedisTlsContext> m_tls;
    QString m_host; // the name the certificate must carry
    QString m_endpoint; // host:port, for the log
    redisReader *m_reader = nullptr;
    QByteArray m_out; // formatted commands not yet handed to the socket
    std::deque<PendingCommand *> m_queue; // awaiting replies, oldest first (null: no one waits)
    Owner *m_owner = nullptr; // null once closed or failed
    QString m_error;
    QString m_certificateProblem; // from sslErrors(), before the handshake fails
    RedisReply m_closedWith;
    bool m_tcpUp = false;
    bool m_up = false;
    bool m_writeQueued = false;
    bool m_refused = false;
};

} // namespace Cachedash::detail
