// SPDX-License-Identifier: GPL-3.0-or-later
#include "testrediscluster.h"

#include "testcertificates.h"
#include "testwait.h"

namespace Cachedash::Test {

using namespace std::chrono;

namespace {
constexpr int ClusterSlots = 16384;
}

TestRedisCluster::TestRedisCluster() = default;
TestRedisCluster::~TestRedisCluster() = default;

bool TestRedisCluster::fail(const QString &message)
{
    m_error = message;
    m_nodes.clear(); // stops every server
    return false;
}

QString TestRedisCluster::tlsUrl(int index) const
{
    const quint16 port = node(index).tlsPort;
    return port ? QStringLiteral("rediss://127.0.0.1:%1").arg(port) : QString();
}

bool TestRedisCluster::start(
    int primaries, int replicasEach, milliseconds nodeTimeout, const TestCertificates *tls)
{
    m_nodes.clear();
    m_nodeTimeout = nodeTimeout;
    const int total = primaries * (1 + replicasEach);
    for (int i = 0; i < total; ++i) {
        Node node;
        node.primary = i < primaries ? -1 : (i - primaries) % primaries;
        node.server = std::make_unique<TestRedisServer>();
        bool started = false;
        for (int attempt = 0; attempt < 5 && !started; ++attempt) {
            node.busPort = TestRedisServer::freeLoopbackPort();
            QStringList args{QStringLiteral("--cluster-enabled"), QStringLiteral("yes"),
                QStringLiteral("--cluster-port"), QString::number(node.busPort),
                QStringLiteral("--cluster-config-file"), QStringLiteral("nodes.conf"),
                QStringLiteral("--cluster-node-timeout"), QString::number(nodeTimeout.count()),
                // A replica's first sync starts at once, not after the default 5 s wait for others.
                QStringLiteral("--repl-diskless-sync-delay"), QStringLiteral("0")};
            if (tls) {
                node.tlsPort = TestRedisServer::freeLoopbackPort();
                args += tls->redisServerArgs(node.tlsPort);
                // The cluster bus always asks the connecting node for a client certificate, whatever
                // tls-auth-clients says; the server certificate is for serverAuth only, so a node
                // introduces itself with the client certificate.
                args += {QStringLiteral("--tls-client-cert-file"), tls->clientCert(),
                    QStringLiteral("--tls-client-key-file"), tls->clientKey(),
                    QStringLiteral("--tls-cluster"), QStringLiteral("yes"),
                    QStringLiteral("--tls-replication"), QStringLiteral("yes")};
            }
            started = node.server->start(args);
        }
        if (!started)
            return fail(QStringLiteral("cluster node %1: %2").arg(i).arg(node.server->errorString()));
        node.id = node.server->command({QByteArrayLiteral("CLUSTER"), QByteArrayLiteral("MYID")});
        m_nodes.push_back(std::move(node));
    }
    // Everyone meets the first node; gossip does the rest.
    for (int i = 1; i < total; ++i) {
        const QByteArray met = server(0).command(
            {QByteArrayLiteral("CLUSTER"), QByteArrayLiteral("MEET"), QByteArrayLiteral("127.0.0.1"),
                QByteArray::number(server(i).port()), QByteArray::number(m_nodes[size_t(i)].busPort)});
        if (met != "OK")
            return fail(QStringLiteral("CLUSTER MEET of node %1: %2").arg(i).arg(QString::fromUtf8(met)));
    }
    for (int p = 0; p < primaries; ++p) {
        const int first = ClusterSlots * p / primaries;
        const int last = ClusterSlots * (p + 1) / primaries - 1;
        const QByteArray added = server(p).command({QByteArrayLiteral("CLUSTER"),
            QByteArrayLiteral("ADDSLOTSRANGE"), QByteArray::number(first), QByteArray::number(last)});
        if (added != "OK")
            return fail(
                QStringLiteral("CLUSTER ADDSLOTSRANGE on node %1: %2").arg(p).arg(QString::fromUtf8(added)));
    }
    // A replica can follow its primary once it knows it.
    const bool allKnown = waitUntil(
        [&] {
            for (int i = 0; i < total; ++i) {
                const QByteArray nodes
                    = server(i).command({QByteArrayLiteral("CLUSTER"), QByteArrayLiteral("NODES")});
                if (nodes.count('\n') + (nodes.endsWith('\n') ? 0 : 1) < total || nodes.contains("handshake"))
                    return false;
            }
            return true;
        },
        10000);
    if (!allKnown)
        return fail(QStringLiteral("the nodes did not all meet within 10 s"));
    for (int i = primaries; i < total; ++i) {
        const QByteArray replicating = server(i).command({QByteArrayLiteral("CLUSTER"),
            QByteArrayLiteral("REPLICATE"), m_nodes[size_t(m_nodes[size_t(i)].primary)].id});
        if (replicating != "OK")
            return fail(QStringLiteral("CLUSTER REPLICATE on node %1: %2")
                            .arg(i)
                            .arg(QString::fromUtf8(replicating)));
    }
    const bool synced = waitUntil(
        [&] {
            for (int i = primaries; i < total; ++i) {
                if (!server(i).info("replication", "master_link_status").startsWith("up"))
                    return false;
            }
            return true;
        },
        10000);
    if (!synced)
        return fail(QStringLiteral("the replicas did not sync within 10 s"));
    if (!waitUntilOk(10s))
        return fail(QStringLiteral("the cluster did not reach cluster_state:ok within 10 s"));
    return true;
}

bool TestRedisCluster::waitUntilOk(milliseconds timeout)
{
    return waitUntil(
        [&] {
            for (const Node &node : m_nodes) {
                if (node.server->isRunning()
                    && !node.server->command({QByteArrayLiteral("CLUSTER"), QByteArrayLiteral("INFO")})
                            .contains("cluster_state:ok"))
                    return false;
            }
            return true;
        },
        timeout.count());
}

int TestRedisCluster::indexOfPort(quint16 port) const
{
    for (size_t i = 0; i < m_nodes.size(); ++i) {
        if (m_nodes[i].server->port() == port)
            return int(i);
    }
    return -1;
}

int TestRedisCluster::primaryFor(int slot, int askedAt) const
{
    // CLUSTER NODES: "<id> <ip:port@bus> <flags> <primary> <ping> <pong> <epoch> <link> <slots>...",
    // slots as "a-b" or "n" (migrations in brackets, which do not count here).
    const QList<QByteArray> lines
        = server(askedAt).command({QByteArrayLiteral("CLUSTER"), QByteArrayLiteral("NODES")}).split('\n');
    for (const QByteArray &line : lines) {
        const QList<QByteArray> fields = line.trimmed().split(' ');
        if (fields.size() < 9 || !fields[2].contains("master") || fields[2].contains("fail"))
            continue;
        for (qsizetype f = 8; f < fields.size(); ++f) {
            if (fields[f].startsWith('['))
                continue;
            const QList<QByteArray> range = fields[f].split('-');
            const int first = range[0].toInt();
            const int last = range.size() > 1 ? range[1].toInt() : first;
            if (slot >= first && slot <= last) {
                const QByteArray address = fields[1].left(fields[1].indexOf('@'));
                return indexOfPort(quint16(address.mid(address.lastIndexOf(':') + 1).toUInt()));
            }
        }
    }
    return -1;
}

} // namespace Cachedash::Test
