// SPDX-License-Identifier: GPL-3.0-or-later
#include "redissubscriber.h"

#include "redislogging.h"

#include <QVarLengthArray>

#include <hiredis/hiredis.h>

namespace Cachedash {

RedisSubscriber::RedisSubscriber(RedisUrl url, std::shared_ptr<const RedisTlsContext> tls, QObject *parent)
    : QObject(parent)
    , m_url(std::move(url))
    , m_tls(std::move(tls))
{
    m_retry.setSingleShot(true);
    m_retry.setInterval(1000);
    connect(&m_retry, &QTimer::timeout, this, &RedisSubscriber::connectNow);
    m_connectTimeout.setSingleShot(true);
    m_connectTimeout.setInterval(2000);
    connect(&m_connectTimeout, &QTimer::timeout, this, [this] {
        if (!m_connection || m_connection->isUp())
            return;
        const QString why
            = m_connection->connectTimeoutReason(std::chrono::milliseconds(m_connectTimeout.interval()));
        std::exchange(m_connection, nullptr)
            ->close(RedisReply::failure(RedisReply::Failure::ConnectionLost, why));
        dropped(why);
    });
}

RedisSubscriber::~RedisSubscriber()
{
    m_open = false;
    if (auto *connection = std::exchange(m_connection, nullptr))
        connection->close(RedisReply::failure(RedisReply::Failure::Closed));
}

void RedisSubscriber::send(const QByteArrayList &args)
{
    QVarLengthArray<const char *, 8> argv;
    QVarLengthArray<size_t, 8> lengths;
    for (const QByteArray &arg : args) {
        argv.append(arg.constData());
        lengths.append(size_t(arg.size()));
    }
    m_connection->send(int(argv.size()), argv.data(), lengths.constData(), nullptr);
}

void RedisSubscriber::psubscribe(const QByteArray &pattern)
{
    if (m_patterns.contains(pattern))
        return;
    m_patterns << pattern;
    if (m_connection)
        send({QByteArrayLiteral("PSUBSCRIBE"), pattern});
}

void RedisSubscriber::open()
{
    if (m_open)
        return;
    m_open = true;
    connectNow();
}

void RedisSubscriber::close()
{
    m_open = false;
    m_retry.stop();
    if (auto *connection = std::exchange(m_connection, nullptr))
        connection->close(RedisReply::failure(RedisReply::Failure::Closed));
    setSubscribed(false);
}

void RedisSubscriber::connectNow()
{
    if (!m_open || m_connection)
        return;
    QString error;
    m_connection = detail::RedisConnection::open(m_url, m_tls, this, &error);
    if (!m_connection) {
        dropped(error);
        return;
    }
    m_connectTimeout.start();
    if (m_url.hasCredentials()) {
        QByteArrayList auth{QByteArrayLiteral("AUTH")};
        if (!m_url.username.isEmpty())
            auth << m_url.username.toUtf8();
        auth << m_url.password.toUtf8();
        send(auth);
    }
    sendSubscriptions();
}

void RedisSubscriber::sendSubscriptions()
{
    for (const QByteArray &pattern : std::as_const(m_patterns))
        send({QByteArrayLiteral("PSUBSCRIBE"), pattern});
}

void RedisSubscriber::dropped(const QString &reason)
{
    m_connection = nullptr;
    m_connectTimeout.stop();
    setSubscribed(false);
    if (m_open)
        m_retry.start();
    if (!reason.isEmpty() && reason != m_lastError) {
        m_lastError = reason;
        qCWarning(lcRedis).noquote() << "notifications from" << m_url.toDisplayString()
                                     << "unavailable:" << reason << "- retrying";
        Q_EMIT errorOccurred(reason);
    }
}

void RedisSubscriber::setSubscribed(bool subscribed)
{
    if (m_subscribed == subscribed)
        return;
    m_subscribed = subscribed;
    if (subscribed)
        m_lastError.clear();
    Q_EMIT subscribedChanged(subscribed);
}

void RedisSubscriber::connectionUp(detail::RedisConnection *) { }

void RedisSubscriber::connectionDown(detail::RedisConnection *connection, const QString &why)
{
    if (connection == m_connection)
        dropped(why);
}

void RedisSubscriber::replyReceived(
    detail::RedisConnection *connection, detail::PendingCommand *, const redisReply *r)
{
    if (!r || connection != m_connection)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        // The server refused AUTH or PSUBSCRIBE (NOAUTH, WRONGPASS, NOPERM): retry later, and say why.
        const QString why = QString::fromUtf8(r->str, qsizetype(r->len));
        connection->close(RedisReply::failure(RedisReply::Failure::ConnectionLost, why));
        dropped(why);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return;
    // Copied out here: the reply lives only inside this call.
    const QByteArray kind(r->element[0]->str, qsizetype(r->element[0]->len));
    if (kind == "psubscribe") {
        setSubscribed(true);
    } else if (kind == "pmessage" && r->elements == 4) {
        Q_EMIT message(QByteArray(r->element[1]->str, qsizetype(r->element[1]->len)),
            QByteArray(r->element[2]->str, qsizetype(r->element[2]->len)),
            QByteArray(r->element[3]->str, qsizetype(r->element[3]->len)));
    }
}

} // namespace Cachedash
