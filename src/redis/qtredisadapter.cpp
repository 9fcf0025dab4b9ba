// SPDX-License-Identifier: GPL-3.0-or-later
#include "qtredisadapter_p.h"

#include <QSocketNotifier>

#include <hiredis/async.h>

namespace Cachedash::detail {

QtRedisAdapter *QtRedisAdapter::attach(redisAsyncContext *context, BeforeWrite beforeWrite)
{
    if (!context || context->ev.data)
        return nullptr;
    auto *adapter = new QtRedisAdapter(context, beforeWrite);
    context->ev.data = adapter;
    context->ev.addRead = &QtRedisAdapter::addRead;
    context->ev.delRead = &QtRedisAdapter::delRead;
    context->ev.addWrite = &QtRedisAdapter::addWrite;
    context->ev.delWrite = &QtRedisAdapter::delWrite;
    context->ev.cleanup = &QtRedisAdapter::cleanup;
    return adapter;
}

QtRedisAdapter::QtRedisAdapter(redisAsyncContext *context, BeforeWrite beforeWrite)
    : m_context(context)
    , m_read(new QSocketNotifier(context->c.fd, QSocketNotifier::Read, this))
    , m_write(new QSocketNotifier(context->c.fd, QSocketNotifier::Write, this))
    , m_beforeWrite(beforeWrite)
{
    m_read->setEnabled(false);
    m_write->setEnabled(false);
    connect(m_read, &QSocketNotifier::activated, this, &QtRedisAdapter::onReadable);
    connect(m_write, &QSocketNotifier::activated, this, &QtRedisAdapter::onWritable);
}

// The hooks are idempotent: hiredis calls add/del freely.
void QtRedisAdapter::addRead(void *self)
{
    auto *a = static_cast<QtRedisAdapter *>(self);
    if (a->m_context)
        a->m_read->setEnabled(true);
}

void QtRedisAdapter::delRead(void *self)
{
    static_cast<QtRedisAdapter *>(self)->m_read->setEnabled(false);
}

void QtRedisAdapter::addWrite(void *self)
{
    auto *a = static_cast<QtRedisAdapter *>(self);
    if (a->m_context)
        a->m_write->setEnabled(true);
}

void QtRedisAdapter::delWrite(void *self)
{
    static_cast<QtRedisAdapter *>(self)->m_write->setEnabled(false);
}

void QtRedisAdapter::cleanup(void *self)
{
    // Called by hiredis just before it frees the context, possibly from inside onReadable().
    auto *a = static_cast<QtRedisAdapter *>(self);
    a->m_read->setEnabled(false);
    a->m_write->setEnabled(false);
    a->m_context = nullptr;
    a->deleteLater();
}

void QtRedisAdapter::onReadable()
{
    if (m_context)
        redisAsyncHandleRead(m_context);
}

void QtRedisAdapter::onWritable()
{
    if (!m_context)
        return;
    if (m_beforeWrite && m_context->data)
        m_beforeWrite(m_context->data);
    // The callback may have issued commands, never freed the context: hiredis defers frees that
    // happen inside its callbacks, and the callback runs in none.
    if (m_context)
        redisAsyncHandleWrite(m_context);
}

} // namespace Cachedash::detail
