// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "testredisserver.h"

#include <QByteArray>
#include <QList>
#include <QString>

#include <chrono>
#include <memory>
#include <vector>

namespace Cachedash::Test {

class TestCertificates;

// A private Redis Cluster for one test: primaries and their replicas, each a TestRedisServer on
// free loopback ports (the cluster bus on a free port of its own, not the data port + 10000), the
// slots split evenly over the primaries in order. Every server stops with the fixture, and with the
// test process if it dies.
//
// With certificates, every node also serves TLS on a port of its own (tlsUrl()), and the nodes
// speak TLS among themselves, on the cluster bus and for replication. Each node keeps its plain
// port for the fixture's own commands (server(), command(), primaryFor() use it). Redis announces
// the ports a client can use: CLUSTER SLOTS, CLUSTER NODES and MOVED name the TLS ports to a client
// that came over TLS, and the plain ports to one that did not.
class TestRedisCluster
{
public:
    struct Node
    {
        std::unique_ptr<TestRedisServer> server;
        QByteArray id; // CLUSTER MYID
        quint16 busPort = 0;
        quint16 tlsPort = 0; // 0 without TLS
        int primary = -1; // for a replica: the index of its primary; -1 for a primary
    };

    TestRedisCluster();
    ~TestRedisCluster();
    TestRedisCluster(const TestRedisCluster &) = delete;
    TestRedisCluster &operator=(const TestRedisCluster &) = delete;

    // Starts `primaries` primaries with `replicasEach` replicas each, joins them, assigns the slots
    // and waits until every node says cluster_state:ok and every replica is in sync. False with
    // errorString() otherwise. With `tls`, which must outlive the cluster, the nodes serve TLS
    // with its server certificate as well (see above).
    bool start(int primaries = 3, int replicasEach = 1,
        std::chrono::milliseconds nodeTimeout = std::chrono::milliseconds(2000),
        const TestCertificates *tls = nullptr);

    QString errorString() const { return m_error; }
    int size() const { return int(m_nodes.size()); }
    const Node &node(int index) const { return m_nodes[size_t(index)]; }
    TestRedisServer &server(int index) const { return *m_nodes[size_t(index)].server; }
    // The primary that serves `slot` now, as CLUSTER SLOTS on node `askedAt` says; -1 if none.
    int primaryFor(int slot, int askedAt = 0) const;
    // redis://127.0.0.1:PORT of node `index`.
    QString url(int index) const { return server(index).url(); }
    // rediss://127.0.0.1:TLSPORT of node `index`; empty without TLS.
    QString tlsUrl(int index) const;

    // Waits until every running node reports cluster_state:ok.
    bool waitUntilOk(std::chrono::milliseconds timeout);

private:
    bool fail(const QString &message);
    int indexOfPort(quint16 port) const;

    std::vector<Node> m_nodes;
    std::chrono::milliseconds m_nodeTimeout{2000};
    QString m_error;
};

} // namespace Cachedash::Test
