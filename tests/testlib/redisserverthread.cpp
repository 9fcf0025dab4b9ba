// SPDX-License-Identifier: GPL-3.0-or-later
#include "redisserverthread.h"

namespace Cachedash::Test {

RedisServerThread::RedisServerThread()
{
    m_context.moveToThread(&m_thread);
    m_thread.start();
}

RedisServerThread::~RedisServerThread()
{
    run([this] { m_server.reset(); });
    m_thread.quit();
    m_thread.wait();
}

bool RedisServerThread::start()
{
    bool started = false;
    run([&] {
        started = m_server->start();
        m_error = m_server->errorString();
    });
    return started;
}

bool RedisServerThread::ensureRunning()
{
    bool running = true;
    run([&] {
        if (!m_server->isRunning()) {
            running = m_server->restart();
            m_error = m_server->errorString();
        }
    });
    return running;
}

} // namespace Cachedash::Test
