// SPDX-License-Identifier: GPL-3.0-or-later
#include "testredissentinel.h"

#include "testcertificates.h"
#include "testwait.h"

#include <QStringList>

namespace Cachedash::Test {

using namespace std::chrono;

TestRedisSentinel::TestRedisSentinel(QByteArray masterName, const TestCertificates *tls)
    : m_masterName(std::move(masterName))
    , m_tls(tls)
{ }

TestRedisSentinel::~TestRedisSentinel() = default;

bool TestRedisSentinel::fail(const QString &message)
{
    m_error = message;
    m_sentinels.clear();
    m_servers.clear();
    m_tlsPorts.clear();
    m_sentinelTlsPorts.clear();
    return false;
}

bool TestRedisSentinel::start(milliseconds downAfter, milliseconds failoverTimeout)
{
    m_sentinels.clear();
    m_servers.clear();
    m_tlsPorts.clear();
    m_sentinelTlsPorts.clear();
    // A TLS port besides the plain one, and replication over it.
    auto tlsArgs = [this](quint16 &port) {
        if (!m_tls)
            return QStringList();
        port = TestRedisServer::freeLoopbackPort();
        return m_tls->redisServerArgs(port)
            + QStringList{QStringLiteral("--tls-replication"), QStringLiteral("yes")};
    };
    // A replica's first sync starts at once, not after the default 5 s wait for others.
    const QStringList sync{QStringLiteral("--repl-diskless-sync-delay"), QStringLiteral("0")};
    quint16 masterTls = 0;
    auto master = std::make_unique<TestRedisServer>();
    if (!master->start(sync + tlsArgs(masterTls)))
        return fail(QStringLiteral("master: ") + master->errorString());
    // Replicas and Sentinels reach the master on the port they would be told about.
    const quint16 masterAt = m_tls ? masterTls : master->port();
    quint16 replicaTls = 0;
    auto replica = std::make_unique<TestRedisServer>();
    if (!replica->start(sync + tlsArgs(replicaTls)
            + QStringList{
                QStringLiteral("--replicaof"), QStringLiteral("127.0.0.1"), QString::number(masterAt)}))
        return fail(QStringLiteral("replica: ") + replica->errorString());
    m_servers.push_back(std::move(master));
    m_servers.push_back(std::move(replica));
    m_tlsPorts = {masterTls, replicaTls};
    if (!waitUntil(
            [&] { return server(1).info("replication", "master_link_status").startsWith("up"); }, 10000))
        return fail(QStringLiteral("the replica did not sync within 10 s"));

    const QByteArray config = "sentinel monitor " + m_masterName + " 127.0.0.1 "
        + QByteArray::number(masterAt) + " 2\n" + "sentinel down-after-milliseconds " + m_masterName + ' '
        + QByteArray::number(downAfter.count()) + '\n' + "sentinel failover-timeout " + m_masterName + ' '
        + QByteArray::number(failoverTimeout.count()) + '\n';
    for (int i = 0; i < 3; ++i) {
        QByteArray tlsConfig;
        quint16 tlsPort = 0;
        if (m_tls) {
            // Their links to the servers and to each other go over TLS, announcing the TLS port.
            tlsPort = TestRedisServer::freeLoopbackPort();
            tlsConfig = "tls-port " + QByteArray::number(tlsPort) + "\ntls-replication yes\ntls-cert-file "
                + m_tls->serverCert().toUtf8() + "\ntls-key-file " + m_tls->serverKey().toUtf8()
                + "\ntls-ca-cert-file " + m_tls->caCert().toUtf8() + "\ntls-auth-clients no\n";
        }
        auto sentinel = std::make_unique<TestRedisServer>();
        if (!sentinel->startSentinel(tlsConfig + config))
            return fail(QStringLiteral("sentinel %1: %2").arg(i).arg(sentinel->errorString()));
        m_sentinels.push_back(std::move(sentinel));
        m_sentinelTlsPorts.push_back(tlsPort);
    }
    // SENTINEL MASTER answers field, value, field, value... one a line.
    auto field = [&](int s, const QByteArray &name) {
        const QList<QByteArray> lines
            = sentinel(s)
                  .command({QByteArrayLiteral("SENTINEL"), QByteArrayLiteral("MASTER"), m_masterName})
                  .split('\n');
        const qsizetype at = lines.indexOf(name);
        return at >= 0 && at + 1 < lines.size() ? lines[at + 1] : QByteArray();
    };
    const bool acquainted = waitUntil(
        [&] {
            for (int s = 0; s < 3; ++s) {
                if (field(s, "num-other-sentinels") != "2" || field(s, "num-slaves") != "1")
                    return false;
            }
            return true;
        },
        15000);
    if (!acquainted)
        return fail(QStringLiteral("the Sentinels did not find each other and the replica within 15 s"));
    return true;
}

quint16 TestRedisSentinel::masterPort(int index) const
{
    const QList<QByteArray> address = sentinel(index)
                                          .command({QByteArrayLiteral("SENTINEL"),
                                              QByteArrayLiteral("GET-MASTER-ADDR-BY-NAME"), m_masterName})
                                          .split('\n');
    return address.size() == 2 ? quint16(address[1].toUInt()) : 0;
}

QString TestRedisSentinel::url() const
{
    QStringList hosts;
    for (size_t i = 0; i < m_sentinels.size(); ++i) {
        hosts << (m_tls ? QStringLiteral("localhost:%1").arg(m_sentinelTlsPorts[i])
                        : QStringLiteral("127.0.0.1:%1").arg(m_sentinels[i]->port()));
    }
    return QStringLiteral("%1://%2/%3")
        .arg(m_tls ? QStringLiteral("rediss+sentinel") : QStringLiteral("redis+sentinel"), hosts.join(u','),
            QString::fromLatin1(m_masterName));
}

} // namespace Cachedash::Test
