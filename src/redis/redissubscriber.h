// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "redisconnection.h"
#include "redisurl.h"

#include <QByteArrayList>
#include <QObject>
#include <QTimer>

#include <memory>

namespace Cachedash {

class RedisTlsContext;

// A second connection, in subscribe mode, for Redis pub/sub messages (keyspace notifications among
// them): PSUBSCRIBE patterns, and every message as a signal. It reconnects by itself (every
// second) and subscribes again. Lives on one thread, like RedisClient.
class RedisSubscriber : public QObject, private detail::RedisConnection::Owner
{
    Q_OBJECT

public:
    // `tls` is required for a rediss:// URL, as for RedisClient.
    explicit RedisSubscriber(
        RedisUrl url, std::shared_ptr<const RedisTlsContext> tls = {}, QObject *parent = nullptr);
    ~RedisSubscriber() override;

    // Remembered: subscribed now if connected, and again after every reconnect.
    void psubscribe(const QByteArray &pattern);
    void open();
    void close();
    bool isSubscribed() const { return m_subscribed; }

Q_SIGNALS:
    void message(const QByteArray &pattern, const QByteArray &channel, const QByteArray &payload);
    void subscribedChanged(bool subscribed);
    // A connection attempt failed, the connection was lost, or the server refused it (a wrong
    // password, no permission to subscribe); the message names the reason. Retrying goes on; a
    // reason is reported again only once it changes.
    void errorOccurred(const QString &message);

private:
    void connectNow();
    void sendSubscriptions();
    // `reason` is empty when the connection ended without an error.
    void dropped(const QString &reason);
    void setSubscribed(bool subscribed);

    void send(const QByteArrayList &args);

    // detail::RedisConnection::Owner
    void connectionUp(detail::RedisConnection *connection) override;
    void connectionDown(detail::RedisConnection *connection, const QString &why) override;
    void replyReceived(detail::RedisConnection *connection, detail::PendingCommand *command,
        const redisReply *reply) override;
    void aboutToWrite(detail::RedisConnection *) override { }

    RedisUrl m_url;
    std::shared_ptr<const RedisTlsContext> m_tls;
    detail::RedisConnection *m_connection = nullptr; // deletes itself
    QByteArrayList m_patterns;
    QTimer m_retry;
    QTimer m_connectTimeout; // a connection (a TLS handshake) that never comes up is retried
    bool m_open = false;
    bool m_subscribed = false;
    QString m_lastError; // the last reason reported, until subscribed again
};

} // namespace Cachedash
