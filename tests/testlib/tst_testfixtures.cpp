// SPDX-License-Identifier: GPL-3.0-or-later
#include "testrediscluster.h"
#include "testredissentinel.h"
#include "testwait.h"

#include <QElapsedTimer>
#include <QTest>

using namespace Cachedash::Test;
using namespace std::chrono_literals;

// The cluster and Sentinel fixtures come up whole, and fail over when a master dies.
class tst_TestFixtures : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void clusterCoversEverySlotAndFailsOver();
    void sentinelFailsOver();
};

void tst_TestFixtures::clusterCoversEverySlotAndFailsOver()
{
    TestRedisCluster cluster;
    QVERIFY2(cluster.start(3, 1, 1000ms), qPrintable(cluster.errorString()));
    // The slots split evenly, in order: 0-5460, 5461-10921, 10922-16383.
    const std::pair<int, int> owners[] = {{0, 0}, {5460, 0}, {5461, 1}, {10921, 1}, {10922, 2}, {16383, 2}};
    for (const auto &[slot, expected] : owners) {
        const int owner = cluster.primaryFor(slot);
        QCOMPARE(owner, expected);
        QCOMPARE(cluster.primaryFor(slot, 4), owner); // every node sees the same map
    }
    // Primary 0 dies: its replica (node 3) takes its slots within the node timeout and an election.
    QElapsedTimer timer;
    timer.start();
    cluster.server(0).kill();
    QVERIFY(waitUntil([&] { return cluster.primaryFor(0, 1) == 3; }, 10000));
    QVERIFY(cluster.waitUntilOk(10s));
    qInfo("cluster failover took %lld ms", qint64(timer.elapsed()));
    QCOMPARE(cluster.server(3).info("replication", "role"), QByteArray("master"));
}

void tst_TestFixtures::sentinelFailsOver()
{
    TestRedisSentinel setup;
    QVERIFY2(setup.start(1000ms, 3000ms), qPrintable(setup.errorString()));
    QCOMPARE(setup.sentinelCount(), 3);
    for (int s = 0; s < 3; ++s)
        QCOMPARE(setup.masterPort(s), setup.server(0).port());
    QVERIFY(setup.url().startsWith(QStringLiteral("redis+sentinel://127.0.0.1:")));
    QVERIFY(setup.url().endsWith(QStringLiteral("/cachedash")));
    QElapsedTimer timer;
    timer.start();
    setup.server(0).kill();
    QVERIFY(waitUntil([&] { return setup.masterPort(0) == setup.server(1).port(); }, 15000));
    QVERIFY(waitUntil([&] { return setup.server(1).info("replication", "role") == "master"; }, 5000));
    qInfo("sentinel failover took %lld ms", qint64(timer.elapsed()));
}

QTEST_GUILESS_MAIN(tst_TestFixtures)
#include "tst_testfixtures.moc"
