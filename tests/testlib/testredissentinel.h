// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "testredisserver.h"

#include <QByteArray>
#include <QString>

#include <chrono>
#include <memory>
#include <vector>

namespace Cachedash::Test {

// A private Sentinel setup for one test: a master, its replica and three Sentinels watching them
// (quorum 2), each on free loopback ports, all stopped with the fixture (or with the test process).
class TestRedisSentinel
{
public:
    explicit TestRedisSentinel(QByteArray masterName = QByteArrayLiteral("cachedash"));
    ~TestRedisSentinel();
    TestRedisSentinel(const TestRedisSentinel &) = delete;
    TestRedisSentinel &operator=(const TestRedisSentinel &) = delete;

    // Starts the servers and the Sentinels and waits until every Sentinel knows the replica and
    // the two other Sentinels. `downAfter` is how long the master must be silent to be down.
    bool start(std::chrono::milliseconds downAfter = std::chrono::milliseconds(1000),
        std::chrono::milliseconds failoverTimeout = std::chrono::milliseconds(3000));

    QString errorString() const { return m_error; }
    const QByteArray &masterName() const { return m_masterName; }
    // The servers: 0 is the first master, 1 its replica (either may be master after a failover).
    TestRedisServer &server(int index) const { return *m_servers[size_t(index)]; }
    TestRedisServer &sentinel(int index) const { return *m_sentinels[size_t(index)]; }
    int sentinelCount() const { return int(m_sentinels.size()); }
    // The master's port as Sentinel `index` names it (SENTINEL get-master-addr-by-name); 0 if none.
    quint16 masterPort(int index = 0) const;
    // redis+sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/NAME
    QString url() const;

private:
    bool fail(const QString &message);

    QByteArray m_masterName;
    std::vector<std::unique_ptr<TestRedisServer>> m_servers;
    std::vector<std::unique_ptr<TestRedisServer>> m_sentinels;
    QString m_error;
};

} // namespace Cachedash::Test
