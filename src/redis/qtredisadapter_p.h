// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QObject>

struct redisAsyncContext;
class QSocketNotifier;

namespace Cachedash::detail {

// Drives one hiredis async context from the Qt event loop with two QSocketNotifiers.
// hiredis owns the lifetime: its cleanup hook detaches the adapter, which then deletes itself
// later, since cleanup can run inside the adapter's own notifier signal.
class QtRedisAdapter : public QObject
{
    Q_OBJECT

public:
    // Called with the context's data (its owner) just before each write, while the data is set.
    using BeforeWrite = void (*)(void *data);

    // Fills the context's event hooks. Fails (returns nullptr) if the context already has an adapter.
    static QtRedisAdapter *attach(redisAsyncContext *context, BeforeWrite beforeWrite);

private:
    QtRedisAdapter(redisAsyncContext *context, BeforeWrite beforeWrite);

    static void addRead(void *self);
    static void delRead(void *self);
    static void addWrite(void *self);
    static void delWrite(void *self);
    static void cleanup(void *self);

    void onReadable();
    void onWritable();

    redisAsyncContext *m_context = nullptr;
    QSocketNotifier *m_read = nullptr;
    QSocketNotifier *m_write = nullptr;
    BeforeWrite m_beforeWrite = nullptr;
};

} // namespace Cachedash::detail
