// SPDX-License-Identifier: GPL-3.0-or-later
#include "redissubscriber.h"

#include "qtredisadapter_p.h"
#include "redislogging.h"

#include <QVarLengthArray>

#include <hiredis/async.h>

namespace Cachedash {

namespace {
void sendArgv(
    redisAsyncContext *context, redisCallbackFn *callback, void *privdata, const QByteArrayList &args)
{
    QVarLengthArray<const char *, 8> argv;
    QVarLengthArray<size_t, 8> lengths;
    for (const QByteArray &arg : args) {
        argv.append(arg.constData());
        lengths.append(size_t(arg.size()));
    }
    redisAsyncCommandArgv(context, callback, privdata, int(argv.size()), argv.data(), lengths.constData());
}
} // namespace

RedisSubscriber::RedisSubscriber(RedisUrl url, QObject *parent)
    : QObject(parent)
    , m_url(std::move(url))
{
    m_retry.setSingleShot(true);
    m_retry.setInterval(1000);
    connect(&m_retry, &QTimer::timeout, this, &RedisSubscriber::connectNow);
}

RedisSubscriber::~RedisSubscriber()
{
    m_open = false;
    if (auto *context = std::exchange(m_context, nullptr)) {
        context->data = nullptr; // callbacks from here on must not touch this object
        redisAsyncFree(context);
    }
}

void RedisSubscriber::psubscribe(const QByteArray &pattern)
{
    if (m_patterns.contains(pattern))
        return;
    m_patterns << pattern;
    if (m_context)
        sendArgv(m_context, &RedisSubscriber::onReply, nullptr, {QByteArrayLiteral("PSUBSCRIBE"), pattern});
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
    if (auto *context = std::exchange(m_context, nullptr))
        redisAsyncFree(context);
    setSubscribed(false);
}

void RedisSubscriber::connectNow()
{
    if (!m_open || m_context)
        return;
    redisAsyncContext *context = m_url.transport == RedisUrl::Transport::Unix
        ? redisAsyncConnectUnix(m_url.socketPath.toUtf8().constData())
        : redisAsyncConnect(m_url.host.toUtf8().constData(), m_url.port);
    if (!context || context->err) {
        if (context)
            redisAsyncFree(context);
        m_retry.start();
        return;
    }
    detail::QtRedisAdapter::attach(context, nullptr);
    context->data = this;
    redisAsyncSetConnectCallback(context, &RedisSubscriber::onConnect);
    redisAsyncSetDisconnectCallback(context, &RedisSubscriber::onDisconnect);
    m_context = context;
    if (m_url.hasCredentials()) {
        QByteArrayList auth{QByteArrayLiteral("AUTH")};
        if (!m_url.username.isEmpty())
            auth << m_url.username.toUtf8();
        auth << m_url.password.toUtf8();
        sendArgv(context, nullptr, nullptr, auth);
    }
    sendSubscriptions();
}

void RedisSubscriber::sendSubscriptions()
{
    for (const QByteArray &pattern : std::as_const(m_patterns))
        sendArgv(m_context, &RedisSubscriber::onReply, nullptr, {QByteArrayLiteral("PSUBSCRIBE"), pattern});
}

void RedisSubscriber::dropped(const QString &reason)
{
    m_context = nullptr;
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

void RedisSubscriber::onConnect(const redisAsyncContext *context, int status)
{
    auto *self = static_cast<RedisSubscriber *>(context->data);
    if (!self || context != self->m_context || status == REDIS_OK)
        return;
    // hiredis frees the context right after this returns.
    self->dropped(QString::fromUtf8(context->errstr));
}

void RedisSubscriber::onDisconnect(const redisAsyncContext *context, int status)
{
    // An error reply to AUTH or PSUBSCRIBE (NOAUTH, WRONGPASS, NOPERM) ends the connection too,
    // with the server's message in errstr.
    auto *self = static_cast<RedisSubscriber *>(context->data);
    if (self && context == self->m_context)
        self->dropped(status == REDIS_OK ? QString() : QString::fromUtf8(context->errstr));
}

void RedisSubscriber::onReply(redisAsyncContext *context, void *reply, void *)
{
    auto *self = static_cast<RedisSubscriber *>(context->data);
    const auto *r = static_cast<const redisReply *>(reply);
    if (!self || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return;
    // Copied out here: the reply lives only inside this callback.
    const QByteArray kind(r->element[0]->str, qsizetype(r->element[0]->len));
    if (kind == "psubscribe") {
        self->setSubscribed(true);
    } else if (kind == "pmessage" && r->elements == 4) {
        Q_EMIT self->message(QByteArray(r->element[1]->str, qsizetype(r->element[1]->len)),
            QByteArray(r->element[2]->str, qsizetype(r->element[2]->len)),
            QByteArray(r->element[3]->str, qsizetype(r->element[3]->len)));
    }
}

} // namespace Cachedash
