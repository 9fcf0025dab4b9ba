// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "testredisserver.h"

#include <QObject>
#include <QThread>

#include <memory>

namespace Cachedash::Test {

// A TestRedisServer on a thread of its own, for tests that start, kill and restart Redis while the
// test's thread serves requests: those steps block (QProcess::waitFor..., polling PING), and a
// blocked event loop would show as request latency.
//
// Everything that touches the server's QProcess (start, kill, restart, stop) runs on that thread:
// QProcess is not thread-safe, and PR_SET_PDEATHSIG (which TestRedisServer sets) kills the child
// when the *thread* that started it ends. command(), url() and port() only read what start() set,
// and may be used from the test's thread.
class RedisServerThread
{
public:
    RedisServerThread();
    ~RedisServerThread();
    RedisServerThread(const RedisServerThread &) = delete;
    RedisServerThread &operator=(const RedisServerThread &) = delete;

    // Runs `f` on the Redis thread and waits for it.
    template<typename F>
    void run(F f)
    {
        QMetaObject::invokeMethod(&m_context, std::move(f), Qt::BlockingQueuedConnection);
    }
    // Runs `f` on the Redis thread, without waiting.
    template<typename F>
    void post(F f)
    {
        QMetaObject::invokeMethod(&m_context, std::move(f), Qt::QueuedConnection);
    }

    // Starts the server on the Redis thread; false with errorString() when it did not start.
    bool start();
    // Starts it again if it is not running (a test killed or stopped it).
    bool ensureRunning();
    QString errorString() const { return m_error; }

    TestRedisServer &server() { return *m_server; }

private:
    std::unique_ptr<TestRedisServer> m_server = std::make_unique<TestRedisServer>();
    QThread m_thread;
    QObject m_context;
    QString m_error;
};

} // namespace Cachedash::Test
