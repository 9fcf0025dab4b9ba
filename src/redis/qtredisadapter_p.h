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
    // Fills the context's event hooks. Fails (returns nullptr) if the context already has an adapter.
    static QtRedisAdapter *attach(redisAsyncContext *context, quint64 *writeCounter);

private:
    QtRedisAdapter(redisAsyncContext *context, quint64 *writeCounter);

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
    // Counts redisAsyncHandleWrite calls (commands issued in one event-loop turn share one); the
    // counter belongs to the client and is touched only while the context lives.
    quint64 *m_writeCounter = nullptr;
};

} // namespace Cachedash::detail
