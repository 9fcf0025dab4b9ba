// SPDX-License-Identifier: GPL-3.0-or-later
// First: hiredis 0.14's sds.h declares C functions without saying so, and its other headers
// include it unwrapped.
extern "C" {
#include <hiredis/sds.h>
}

#include "hiredisconnection_p.h"

#include "redisurl.h"

#include <QSocketNotifier>

#include <hiredis/async.h>

#include <sys/socket.h>

namespace Cachedash::detail {

namespace {
QString contextError(const redisAsyncContext *context, const QString &fallback)
{
    if (context && context->errstr[0])
        return QString::fromLocal8Bit(context->errstr);
    return fallback;
}
} // namespace

HiredisConnection *HiredisConnection::open(const RedisUrl &url, Owner *owner, QString *error)
{
    redisAsyncContext *context = url.transport == RedisUrl::Transport::Unix
        ? redisAsyncConnectUnix(url.socketPath.toUtf8().constData())
        : redisAsyncConnect(url.host.toUtf8().constData(), url.port);
    if (!context) {
        *error = QStringLiteral("out of memory creating a Redis connection");
        return nullptr;
    }
    if (context->err) {
        *error = contextError(context, QStringLiteral("connection failed"));
        redisAsyncFree(context);
        return nullptr;
    }
    // Hooks before the connect callback, or a failed connect is never reported.
    auto *connection = new HiredisConnection(context, owner);
    context->ev.data = connection;
    context->ev.addRead = &HiredisConnection::addRead;
    context->ev.delRead = &HiredisConnection::delRead;
    context->ev.addWrite = &HiredisConnection::addWrite;
    context->ev.delWrite = &HiredisConnection::delWrite;
    context->ev.cleanup = &HiredisConnection::cleanup;
    context->data = connection;
    redisAsyncSetConnectCallback(context, &HiredisConnection::onConnect);
    return connection;
}

HiredisConnection::HiredisConnection(redisAsyncContext *context, Owner *owner)
    : m_context(context)
    , m_owner(owner)
    , m_read(new QSocketNotifier(context->c.fd, QSocketNotifier::Read, this))
    , m_write(new QSocketNotifier(context->c.fd, QSocketNotifier::Write, this))
{
    m_read->setEnabled(false);
    m_write->setEnabled(false);
    connect(m_read, &QSocketNotifier::activated, this, &HiredisConnection::onReadable);
    connect(m_write, &QSocketNotifier::activated, this, &HiredisConnection::onWritable);
}

HiredisConnection::~HiredisConnection() = default;

bool HiredisConnection::send(int argc, const char **argv, const size_t *lengths, PendingCommand *command)
{
    if (!m_context || !m_owner)
        return false;
    if (command)
        command->ref.ref(); // hiredis holds this reference until the callback runs
    if (redisAsyncCommandArgv(m_context, &HiredisConnection::onReply, command, argc, argv, lengths)
        != REDIS_OK) {
        if (command)
            command->ref.deref();
        return false;
    }
    return true;
}

size_t HiredisConnection::pendingBytes() const
{
    return m_context ? sdslen(m_context->c.obuf) : 0;
}

void HiredisConnection::flush()
{
    // hiredis writes its buffer when the write notifier fires, after everything else this turn of
    // the event loop does. This does what its redisBufferWrite() does, minus the error handling: a
    // failed or short write leaves the rest to the notifier, which meets any error where callbacks
    // may safely run.
    redisAsyncContext *context = m_context;
    if (!context || !m_owner || !m_up || !(context->c.flags & REDIS_CONNECTED) || context->c.fd < 0)
        return;
    m_owner->aboutToWrite(this);
    if (m_context != context || !m_owner)
        return;
    redisContext &c = context->c;
    if (sdslen(c.obuf) == 0)
        return;
    const ssize_t written = ::send(c.fd, c.obuf, sdslen(c.obuf), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (written <= 0)
        return;
    sdsrange(c.obuf, written, -1);
    // All out: the notifier has nothing left to write (hiredis does the same after its writes).
    if (sdslen(c.obuf) == 0)
        m_write->setEnabled(false);
}

void HiredisConnection::writeSoon()
{
    if (m_context)
        m_write->setEnabled(true);
}

QString HiredisConnection::connectTimeoutReason(std::chrono::milliseconds timeout)
{
    return QStringLiteral("connecting timed out after %1 ms").arg(timeout.count());
}

QString HiredisConnection::errorString() const
{
    return contextError(m_context, QString());
}

void HiredisConnection::close(RedisReply failure)
{
    if (!m_owner)
        return;
    m_owner = nullptr;
    m_closedWith = std::move(failure);
    // Completes the commands in flight from in here (or, inside a hiredis callback, once it returns).
    if (m_context)
        redisAsyncFree(m_context);
}

// The hooks are idempotent: hiredis calls add/del freely.
void HiredisConnection::addRead(void *self)
{
    auto *c = static_cast<HiredisConnection *>(self);
    if (c->m_context)
        c->m_read->setEnabled(true);
}

void HiredisConnection::delRead(void *self)
{
    static_cast<HiredisConnection *>(self)->m_read->setEnabled(false);
}

void HiredisConnection::addWrite(void *self)
{
    auto *c = static_cast<HiredisConnection *>(self);
    if (c->m_context)
        c->m_write->setEnabled(true);
}

void HiredisConnection::delWrite(void *self)
{
    static_cast<HiredisConnection *>(self)->m_write->setEnabled(false);
}

void HiredisConnection::cleanup(void *self)
{
    // Called by hiredis just before it frees the context, possibly from inside onReadable(), after
    // the commands in flight got their NULL replies: whatever ended the connection (a failed
    // connect, the server gone, a protocol error) is reported from here, once.
    auto *c = static_cast<HiredisConnection *>(self);
    c->m_read->setEnabled(false);
    c->m_write->setEnabled(false);
    if (Owner *owner = std::exchange(c->m_owner, nullptr)) {
        const QString why = contextError(c->m_context,
            c->m_up ? QStringLiteral("the server closed the connection")
                    : QStringLiteral("connection failed"));
        c->m_context = nullptr;
        owner->connectionDown(c, why);
    }
    c->m_context = nullptr;
    c->deleteLater();
}

void HiredisConnection::onReadable()
{
    if (m_context)
        redisAsyncHandleRead(m_context);
}

void HiredisConnection::onWritable()
{
    if (!m_context)
        return;
    if (m_owner && m_up)
        m_owner->aboutToWrite(this);
    // The owner may have issued commands, never freed the context: hiredis defers frees that
    // happen inside its callbacks, and this runs in none... unless the owner closed us.
    if (m_context && m_owner)
        redisAsyncHandleWrite(m_context);
}

void HiredisConnection::onConnect(const redisAsyncContext *context, int status)
{
    // A failure is reported by cleanup(), which hiredis calls right after this returns.
    auto *self = static_cast<HiredisConnection *>(context->data);
    if (status != REDIS_OK || !self->m_owner)
        return;
    self->m_up = true;
    self->m_owner->connectionUp(self);
}

void HiredisConnection::onReply(redisAsyncContext *context, void *reply, void *privdata)
{
    auto *self = static_cast<HiredisConnection *>(context->data);
    auto *command = static_cast<PendingCommand *>(privdata);
    if (self->m_owner) {
        self->m_owner->replyReceived(self, command, static_cast<const redisReply *>(reply));
    } else if (command) {
        command->complete(self->m_closedWith);
    }
    if (command && !command->ref.deref())
        delete command; // the reference handed to hiredis in send()
}

} // namespace Cachedash::detail
