// SPDX-License-Identifier: GPL-3.0-or-later
#include "redis/keyslot.h"
#include "testlib/testrediscluster.h"
#include "testlib/testredisserver.h"

#include <QRandomGenerator>
#include <QTcpServer>
#include <QTest>

using namespace Cachedash;
using Cachedash::Test::TestRedisServer;

// keySlot() against the slots a real cluster-enabled redis-server computes (CLUSTER KEYSLOT).
class tst_KeySlot : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void crc16CheckValue();
    void knownSlots_data();
    void knownSlots();
    void agreesWithRedis();
    void routesLikeACluster();
};

void tst_KeySlot::crc16CheckValue()
{
    // The XMODEM check value: CRC16 of "123456789".
    QCOMPARE(crc16("123456789"), quint16(0x31C3));
    QCOMPARE(crc16(""), quint16(0));
}

void tst_KeySlot::knownSlots_data()
{
    QTest::addColumn<QByteArray>("key");
    QTest::addColumn<QByteArray>("sameSlotAs");
    // The hash tag rules of the cluster specification.
    QTest::newRow("tag") << QByteArray("{user1000}.following") << QByteArray("user1000");
    QTest::newRow("tag, other key") << QByteArray("{user1000}.followers") << QByteArray("user1000");
    QTest::newRow("first tag only") << QByteArray("foo{bar}{zap}") << QByteArray("bar");
    QTest::newRow("empty tag: whole key") << QByteArray("foo{}{bar}") << QByteArray("foo{}{bar}");
    QTest::newRow("open brace inside") << QByteArray("foo{{bar}}zap") << QByteArray("{bar");
    QTest::newRow("no closing brace") << QByteArray("foo{bar") << QByteArray("foo{bar");
    QTest::newRow("lease of a report") << QByteArray("{report:emea}:lease") << QByteArray("report:emea");
}

void tst_KeySlot::knownSlots()
{
    QFETCH(QByteArray, key);
    QFETCH(QByteArray, sameSlotAs);
    QCOMPARE(keySlot(key), keySlot(sameSlotAs));
    QVERIFY(keySlot(key) >= 0 && keySlot(key) < ClusterSlots);
}

void tst_KeySlot::agreesWithRedis()
{
    QTcpServer bus; // a free port for the cluster bus, which must not be the data port + 10000
    QVERIFY(bus.listen(QHostAddress::LocalHost, 0));
    const quint16 busPort = bus.serverPort();
    bus.close();
    TestRedisServer server;
    QVERIFY2(server.start({QStringLiteral("--cluster-enabled"), QStringLiteral("yes"),
                 QStringLiteral("--cluster-port"), QString::number(busPort),
                 QStringLiteral("--cluster-config-file"), QStringLiteral("nodes.conf")}),
        qPrintable(server.errorString()));
    QList<QByteArray> keys{"", "a", "report:emea", "rate:sliding:127.0.0.1", "rate:sliding:::1",
        "{report:zürich}:lease", "{", "}", "{}", "}{", "{a}{b}", "x{y}z"};
    QRandomGenerator random(20261203);
    while (keys.size() < 300) {
        QByteArray key(random.bounded(1, 24), Qt::Uninitialized);
        for (char &c : key)
            c = char(random.bounded(256));
        if (random.bounded(4) == 0) // braces are what matters: more of them
            key[random.bounded(int(key.size()))] = random.bounded(2) ? '{' : '}';
        keys.append(key);
    }
    for (const QByteArray &key : std::as_const(keys)) {
        const QByteArray expected
            = server.command({QByteArrayLiteral("CLUSTER"), QByteArrayLiteral("KEYSLOT"), key});
        QCOMPARE(QByteArray::number(keySlot(key)), expected);
    }
}

void tst_KeySlot::routesLikeACluster()
{
    Cachedash::Test::TestRedisCluster cluster;
    QVERIFY2(cluster.start(3, 1), qPrintable(cluster.errorString()));
    QCOMPARE(cluster.size(), 6);
    for (const QByteArray &key : {QByteArray("report:emea"), QByteArray("{report:emea}:lease"),
             QByteArray("rate:sliding:127.0.0.1"), QByteArray("report:apac"), QByteArray("report:amer")}) {
        const int slot = keySlot(key);
        const int owner = cluster.primaryFor(slot);
        QVERIFY2(owner >= 0 && owner < 3, key.constData());
        // The primary keySlot() names stores the key; another one redirects to it.
        QCOMPARE(cluster.server(owner).command({"SET", key, "1"}), QByteArray("OK"));
        const int other = (owner + 1) % 3;
        QCOMPARE(cluster.server(other).command({"GET", key}),
            "(error) MOVED " + QByteArray::number(slot)
                + " 127.0.0.1:" + QByteArray::number(cluster.server(owner).port()));
        // Its replica holds a copy once replication caught up.
        const int replica = 3 + owner;
        QCOMPARE(cluster.node(replica).primary, owner);
        const QByteArrayList count{"CLUSTER", "COUNTKEYSINSLOT", QByteArray::number(slot)};
        QTRY_COMPARE(cluster.server(replica).command(count), cluster.server(owner).command(count));
        QVERIFY(cluster.server(owner).command(count).toInt() >= 1);
    }
}

QTEST_GUILESS_MAIN(tst_KeySlot)
#include "tst_keyslot.moc"
