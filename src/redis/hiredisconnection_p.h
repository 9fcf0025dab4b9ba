// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "redisconnection.h"

#include <QObject>

struct redisAsyncContext;
class QSocketNotifier;

namespace Cachedash::detail {

// A plain TCP or unix-socket connection: hiredis's async context, driven from the Qt event loop
// by two QSocketNotifiers. hiredis owns the lifetime: its cleanup hook detaches this object, which
// then deletes itself later, since cleanup can run inside one of its own notifier signals.
class HiredisConnection : public QObject, public RedisConnection
{
    Q_OBJECT

public:
    static HiredisConnection *open(const RedisUrl &url, Owner *owner, QString *error);

    bool send(int argc, const char **argv, const size_t *lengths, PendingCommand *command) override;
    size_t pendingBytes() const override;
    void flush() override;
    void writeSoon() override;
    bool isUp() const override { return m_up; }
    QString connectTimeoutReason(std::chrono::milliseconds timeout) override;
    QString errorString() const override;
    bool refused() const override { return false; }
    void close(RedisReply failure) override;

private:
    HiredisConnection(redisAsyncContext *context, Owner *owner);
    ~HiredisConnection() override;

    static void addRead(void *self);
    static void delRead(void *self);
    static void addWrite(void *self);
    static void delWrite(void *self);
    static void cleanup(void *self);
    static void onConnect(const redisAsyncContext *context, int status);
    static void onReply(redisAsyncContext *context, void *reply, void *privdata);

    void onReadable();
    void onWritable();

    redisAsyncContext *m_context = nullptr; // null once hiredis has cleaned up
    Owner *m_owner = nullptr; // null once closed
    QSocketNotifier *m_read = nullptr;
    QSocketNotifier *m_write = nullptr;
    bool m_up = false;
    RedisReply m_closedWith; // what the commands still in flight get after close()
};

} // namespace Cachedash::detail
