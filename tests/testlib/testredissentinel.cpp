// SPDX-License-Identifier: GPL-3.0-or-later
#include "testredissentinel.h"

#include "testwait.h"

#include <QStringList>

namespace Cachedash::Test {

using namespace std::chrono;

TestRedisSentinel::TestRedisSentinel(QByteArray masterName)
    : m_masterName(std::move(masterName))
{ }

TestRedisSentinel::~TestRedisSentinel() = default;

bool TestRedisSentinel::fail(const QString &message)
{
    m_error = message;
    m_sentinels.clear();
    m_servers.clear();
    return false;
}

bool TestRedisSentinel::start(milliseconds downAfter, milliseconds failoverTimeout)
{
    m_sentinels.clear();
    m_servers.clear();
    // A replica's first sync starts at once, not after the default 5 s wait for others.
    const QStringList sync{QStringLiteral("--repl-diskless-sync-delay"), QStringLiteral("0")};
    auto master = std::make_unique<TestRedisServer>();
    if (!master->start(sync))
        return fail(QStringLiteral("master: ") + master->errorString());
    auto replica = std::make_unique<TestRedisServer>();
    if (!replica->start(sync
            + QStringList{
                QStringLiteral("--replicaof"), QStringLiteral("127.0.0.1"), QString::number(master->port())}))
        return fail(QStringLiteral("replica: ") + replica->errorString());
    m_servers.push_back(std::move(master));
    m_servers.push_back(std::move(replica));
    if (!waitUntil(
            [&] { return server(1).info("replication", "master_link_status").startsWith("up"); }, 10000))
        return fail(QStringLiteral("the replica did not sync within 10 s"));

    const QByteArray config = "sentinel monitor " + m_masterName + " 127.0.0.1 "
        + QByteArray::number(server(0).port()) + " 2\n" + "sentinel down-after-milliseconds " + m_masterName
        + ' ' + QByteArray::number(downAfter.count()) + '\n' + "sentinel failover-timeout " + m_masterName
        + ' ' + QByteArray::number(failoverTimeout.count()) + '\n';
    for (int i = 0; i < 3; ++i) {
        auto sentinel = std::make_unique<TestRedisServer>();
        if (!sentinel->startSentinel(config))
            return fail(QStringLiteral("sentinel %1: %2").arg(i).arg(sentinel->errorString()));
        m_sentinels.push_back(std::move(sentinel));
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
    for (const auto &sentinel : m_sentinels)
        hosts << QStringLiteral("127.0.0.1:%1").arg(sentinel->port());
    return QStringLiteral("redis+sentinel://%1/%2").arg(hosts.join(u','), QString::fromLatin1(m_masterName));
}

} // namespace Cachedash::Test
