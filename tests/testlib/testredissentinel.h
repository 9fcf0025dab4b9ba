// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "testredisserver.h"

#include <QByteArray>
#include <QString>

#include <chrono>
#include <memory>
#include <vector>

namespace Cachedash::Test {

class TestCertificates;

// A private Sentinel setup for one test: a master, its replica and three Sentinels watching them
// (quorum 2), each on free loopback ports, all stopped with the fixture (or with the test process).
// With `tls`, every server and Sentinel also has a TLS port serving the certificates' server
// certificate (clients need none), replication and the Sentinels' own links go over TLS, and the
// Sentinels name the masters' TLS ports; the plain ports stay for the fixture's admin commands.
// `tls` must outlive the fixture.
class TestRedisSentinel
{
public:
    explicit TestRedisSentinel(
        QByteArray masterName = QByteArrayLiteral("cachedash"), const TestCertificates *tls = nullptr);
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
    // The TLS ports of server and Sentinel `index` (0 without TLS).
    quint16 tlsPort(int index) const { return m_tlsPorts[size_t(index)]; }
    quint16 sentinelTlsPort(int index) const { return m_sentinelTlsPorts[size_t(index)]; }
    // The master's port as Sentinel `index` names it (SENTINEL get-master-addr-by-name); 0 if none.
    // With TLS it is a TLS port.
    quint16 masterPort(int index = 0) const;
    // redis+sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/NAME, or with TLS
    // rediss+sentinel://localhost:T1,localhost:T2,localhost:T3/NAME (the certificate's name).
    QString url() const;

private:
    bool fail(const QString &message);

    QByteArray m_masterName;
    const TestCertificates *m_tls = nullptr;
    std::vector<std::unique_ptr<TestRedisServer>> m_servers;
    std::vector<quint16> m_tlsPorts;
    std::vector<quint16> m_sentinelTlsPorts;
    std::vector<std::unique_ptr<TestRedisServer>> m_sentinels;
    QString m_error;
};

} // namespace Cachedash::Test
