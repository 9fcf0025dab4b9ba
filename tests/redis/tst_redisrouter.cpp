// SPDX-License-Identifier: GPL-3.0-or-later
#include "redis/keyslot.h"
#include "redis/redisrouter.h"
#include "testlib/testrediscluster.h"
#include "testlib/testredissentinel.h"
#include "testlib/testredisserver.h"
#include "testlib/testwait.h"

#include <QElapsedTimer>
#include <QSet>
#include <QSignalSpy>
#include <QTest>

#include <qcoro/qcorotask.h>

#include <memory>

using namespace std::chrono_literals;
using Cachedash::keySlot;
using Cachedash::RedisPendingReply;
using Cachedash::RedisReply;
using Cachedash::RedisRouter;
using Cachedash::RedisScript;
using Cachedash::RedisUrl;
using Cachedash::Test::TestRedisCluster;
using Cachedash::Test::TestRedisSentinel;
using Cachedash::Test::TestRedisServer;
using Cachedash::Test::waitUntil;

namespace {

// The per-command timeout the routers here use (RedisClient's default).
constexpr auto CommandTimeout = 1000ms;
// What a failed command may take beyond it: a loaded 2-core machine's scheduling.
constexpr qint64 SlackMs = 300;

RedisReply await(RedisPendingReply pending)
{
    return QCoro::waitFor(pending);
}

QString local(quint16 port)
{
    return QStringLiteral("127.0.0.1:%1").arg(port);
}

std::unique_ptr<RedisRouter> openRouter(const QString &url, RedisRouter::Options options = {})
{
    options.client.commandTimeout = CommandTimeout;
    auto router = std::make_unique<RedisRouter>(RedisUrl::parse(url).value(), options);
    router->open();
    return router;
}

bool becomesReady(RedisRouter &router, std::chrono::milliseconds timeout = 5s)
{
    return QCoro::waitFor(router.waitForReady(timeout));
}

RedisRouter::Health healthOf(RedisRouter &router)
{
    return QCoro::waitFor(router.checkHealth());
}

QByteArray slotText(int slot)
{
    return QByteArray::number(slot);
}

// Stores ARGV[1] at KEYS[1] and answers what it stored: where it ran shows on that node.
const RedisScript SetAndGet(
    QByteArrayLiteral("redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])"));

} // namespace

// RedisRouter against real servers: one redis-server, a 3-primary Redis Cluster with a replica
// each (started once, shared), and two Sentinel setups of their own. The tests that only use the
// cluster come first; those that change it run last, in this order, each on a part the later ones
// do not rely on: slots moved from primary 0 to 1 (ASK, MOVED), a node added and emptied again,
// primary 0 handed over to its replica (node 3), then primary 2 killed (node 5 takes over). Any
// one of them also runs alone.
class tst_RedisRouter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();

    void standaloneOnAPlainServer();
    void clusterDetectedFromAnyNode_data();
    void clusterDetectedFromAnyNode();
    void seedListWithADeadFirstHost();
    void noSeedAnswers();
    void keysSpreadOverEveryPrimary();
    void scriptReloadedOnNoscript();
    void crossSlotScriptRefusedBeforeSending();
    void unexpectedMovedWithoutClusterDetection();
    void askDuringMigration();
    void movedAfterSlotMigration();
    void redirectsToANodeAddedToTheCluster();
    void manualClusterFailover();
    void primaryFailover();
    void sentinelFollowsTheMaster();
    void sentinelManualFailover();

private:
    // A key whose slot primary `primary` serves now (asked of node `askedAt`).
    QByteArray keyOn(int primary, const QByteArray &prefix, int askedAt = 0) const;
    QString address(int node) const { return local(m_cluster.server(node).port()); }
    // CLUSTER SETSLOT IMPORTING/MIGRATING, then MIGRATE of `key`: the slot is half-way.
    bool startMigration(int slot, int from, int to, const QByteArray &key);
    // CLUSTER SETSLOT NODE on every primary: the slot is `to`'s.
    bool finishMigration(int slot, int to);

    TestRedisServer m_server;
    TestRedisCluster m_cluster;
    static constexpr int Primaries = 3;
};

void tst_RedisRouter::initTestCase()
{
    QVERIFY2(m_server.start(), qPrintable(m_server.errorString()));
    // A short node timeout, so that primaryFailover() sees a replica promoted within seconds.
    QVERIFY2(m_cluster.start(Primaries, 1, 1000ms), qPrintable(m_cluster.errorString()));
}

QByteArray tst_RedisRouter::keyOn(int primary, const QByteArray &prefix, int askedAt) const
{
    for (int i = 0; i < 1000; ++i) {
        const QByteArray key = prefix + QByteArray::number(i);
        if (m_cluster.primaryFor(keySlot(key), askedAt) == primary)
            return key;
    }
    qFatal("no key with prefix %s on primary %d", prefix.constData(), primary);
    return {};
}

bool tst_RedisRouter::startMigration(int slot, int from, int to, const QByteArray &key)
{
    const QByteArray importing = m_cluster.server(to).command(
        {"CLUSTER", "SETSLOT", slotText(slot), "IMPORTING", m_cluster.node(from).id});
    const QByteArray migrating = m_cluster.server(from).command(
        {"CLUSTER", "SETSLOT", slotText(slot), "MIGRATING", m_cluster.node(to).id});
    const QByteArray migrated = m_cluster.server(from).command({"MIGRATE", "127.0.0.1",
        QByteArray::number(m_cluster.server(to).port()), "", "0", "5000", "KEYS", key});
    if (importing != "OK" || migrating != "OK" || migrated != "OK") {
        qWarning("migration of slot %d: %s / %s / %s", slot, importing.constData(), migrating.constData(),
            migrated.constData());
        return false;
    }
    return true;
}

bool tst_RedisRouter::finishMigration(int slot, int to)
{
    // The importing node first, then the others (the order CLUSTER SETSLOT's documentation gives).
    QList<int> order{to};
    for (int p = 0; p < Primaries; ++p) {
        if (p != to)
            order.append(p);
    }
    for (int p : std::as_const(order)) {
        const QByteArray set = m_cluster.server(p).command(
            {"CLUSTER", "SETSLOT", slotText(slot), "NODE", m_cluster.node(to).id});
        if (set != "OK") {
            qWarning("CLUSTER SETSLOT %d NODE on node %d: %s", slot, p, set.constData());
            return false;
        }
    }
    return true;
}

void tst_RedisRouter::standaloneOnAPlainServer()
{
    auto router = openRouter(m_server.url());
    QVERIFY(becomesReady(*router));
    QCOMPARE(router->mode(), RedisRouter::Mode::Standalone);
    QVERIFY(!router->isCluster());
    QCOMPARE(router->describe(), QStringLiteral("standalone"));

    const QByteArray key("router:standalone");
    const RedisReply set = await(router->command(key, {"SET", key, "one"}));
    QVERIFY2(set.isOk(), qPrintable(set.errorText()));
    QCOMPARE(m_server.command({"GET", key}), QByteArray("one"));
    QCOMPARE(await(router->get(key)).bytes(), QByteArray("one"));
    QCOMPARE(router->nodeFor(key), local(m_server.port()));
    // A command about no key goes to the one server too.
    QCOMPARE(await(router->ping()).bytes(), QByteArray("PONG"));

    const QList<RedisRouter::Node> nodes = router->nodes();
    QCOMPARE(nodes.size(), 1);
    QCOMPARE(nodes[0].address, local(m_server.port()));
    QCOMPARE(nodes[0].role, QStringLiteral("standalone"));
    QVERIFY(nodes[0].up);

    // One server: keys of different slots may share a script; nothing refuses them.
    QVERIFY(keySlot("a") != keySlot("b"));
    const RedisReply both = QCoro::waitFor(router->evalScript(
        RedisScript(QByteArrayLiteral("return #KEYS")), QByteArrayList{"a", "b"}, QByteArrayList{}));
    QCOMPARE(both.toInteger(), 2);

    const RedisRouter::Health health = healthOf(*router);
    QVERIFY2(health.up, qPrintable(health.detail));
    QCOMPARE(router->stats().refreshes, 0u);
    QCOMPARE(router->stats().moved, 0u);
    QCOMPARE(router->stats().unexpectedRedirects, 0u);
}

void tst_RedisRouter::clusterDetectedFromAnyNode_data()
{
    QTest::addColumn<int>("node");
    for (int i = 0; i < m_cluster.size(); ++i) {
        const int primary = m_cluster.node(i).primary;
        const QByteArray name = primary < 0 ? QByteArray("primary " + QByteArray::number(i))
                                            : QByteArray("replica of " + QByteArray::number(primary));
        QTest::newRow(name.constData()) << i;
    }
}

void tst_RedisRouter::clusterDetectedFromAnyNode()
{
    QFETCH(int, node);
    auto router = openRouter(m_cluster.url(node));
    QSignalSpy modes(router.get(), &RedisRouter::modeChanged);
    QVERIFY(becomesReady(*router));
    QCOMPARE(router->mode(), RedisRouter::Mode::Cluster);
    QVERIFY(router->isCluster());
    QVERIFY(!modes.isEmpty());
    QCOMPARE(modes.constLast().at(0).value<RedisRouter::Mode>(), RedisRouter::Mode::Cluster);
    QCOMPARE(router->describe(), QStringLiteral("cluster, 3 primaries"));
    QVERIFY(router->stats().refreshes >= 1);

    // The three primaries, with the slots the fixture gave them; never a replica.
    const QList<RedisRouter::Node> nodes = router->nodes();
    QCOMPARE(nodes.size(), Primaries);
    QMap<QString, QString> slots;
    for (const RedisRouter::Node &n : nodes) {
        QCOMPARE(n.role, QStringLiteral("primary"));
        QVERIFY2(n.up, qPrintable(n.address + QStringLiteral(": ") + n.problem));
        slots.insert(n.address, n.slots);
    }
    QCOMPARE(slots.value(address(0)), QStringLiteral("0-5460"));
    QCOMPARE(slots.value(address(1)), QStringLiteral("5461-10921"));
    QCOMPARE(slots.value(address(2)), QStringLiteral("10922-16383"));

    for (const QByteArray &key :
        {QByteArray("a"), QByteArray("b"), QByteArray("c"), QByteArray("report:emea")})
        QCOMPARE(router->nodeFor(key), address(m_cluster.primaryFor(keySlot(key))));

    const RedisRouter::Health health = healthOf(*router);
    QVERIFY2(health.up, qPrintable(health.detail));
    QCOMPARE(health.nodes.size(), Primaries);
}

void tst_RedisRouter::seedListWithADeadFirstHost()
{
    const quint16 dead = TestRedisServer::freeLoopbackPort();
    QVERIFY(dead != 0);
    const QString url
        = QStringLiteral("redis://127.0.0.1:%1,127.0.0.1:%2").arg(dead).arg(m_cluster.server(4).port());
    auto router = openRouter(url);
    QVERIFY(becomesReady(*router));
    QCOMPARE(router->mode(), RedisRouter::Mode::Cluster);
    QCOMPARE(router->nodes().size(), Primaries);

    const QByteArray key = keyOn(1, "router:seed:");
    const RedisReply set = await(router->command(key, {"SET", key, "seeded"}));
    QVERIFY2(set.isOk(), qPrintable(set.errorText()));
    QCOMPARE(m_cluster.server(1).command({"GET", key}), QByteArray("seeded"));
    // The dead seed is no node of the cluster: nothing routes there.
    for (const RedisRouter::Node &n : router->nodes())
        QVERIFY(n.address != local(dead));
}

void tst_RedisRouter::noSeedAnswers()
{
    const quint16 dead1 = TestRedisServer::freeLoopbackPort();
    const quint16 dead2 = TestRedisServer::freeLoopbackPort();
    auto router = openRouter(QStringLiteral("redis://127.0.0.1:%1,127.0.0.1:%2").arg(dead1).arg(dead2));
    // Both seeds tried, both named in the error; never ready, and commands fail at once.
    QVERIFY2(waitUntil(
                 [&] { return router->lastError().contains(QStringLiteral("no seed could be used")); }, 5000),
        qPrintable(router->lastError()));
    QVERIFY2(router->lastError().contains(local(dead1)), qPrintable(router->lastError()));
    QVERIFY2(router->lastError().contains(local(dead2)), qPrintable(router->lastError()));
    QVERIFY(!router->isReady());
    QCOMPARE(router->mode(), RedisRouter::Mode::Unknown);
    QElapsedTimer timer;
    timer.start();
    const RedisReply reply = await(router->get("k"));
    QVERIFY(reply.isFailure());
    QCOMPARE(reply.failureKind(), RedisReply::Failure::NotConnected);
    QVERIFY(timer.elapsed() < 100);
    const RedisRouter::Health health = healthOf(*router);
    QVERIFY(!health.up);
    QVERIFY(!health.detail.isEmpty());
}

void tst_RedisRouter::keysSpreadOverEveryPrimary()
{
    auto router = openRouter(m_cluster.url(0));
    QVERIFY(becomesReady(*router));

    // Issued back to back (pipelined per node), then awaited.
    QByteArrayList keys;
    std::vector<RedisPendingReply> sets;
    for (int i = 0; i < 30; ++i) {
        const QByteArray key = "router:spread:" + QByteArray::number(i);
        keys.append(key);
        sets.push_back(router->command(key, {"SET", key, "value-" + QByteArray::number(i)}));
    }
    for (RedisPendingReply &set : sets) {
        const RedisReply reply = await(set);
        QVERIFY2(reply.isStatus(), qPrintable(reply.toDebugString()));
    }

    QSet<int> owners;
    for (qsizetype i = 0; i < keys.size(); ++i) {
        const QByteArray &key = keys[i];
        const QByteArray value = "value-" + QByteArray::number(i);
        const int owner = m_cluster.primaryFor(keySlot(key));
        QVERIFY(owner >= 0 && owner < Primaries);
        owners.insert(owner);
        // The key lives on the node that owns its slot, and only there.
        QCOMPARE(m_cluster.server(owner).command({"GET", key}), value);
        for (int other = 0; other < Primaries; ++other) {
            if (other != owner)
                QVERIFY(m_cluster.server(other).command({"GET", key}).startsWith("(error) MOVED"));
        }
        QCOMPARE(router->nodeFor(key), address(owner));
        QCOMPARE(await(router->get(key)).bytes(), value);
    }
    QCOMPARE(owners.size(), Primaries);
    // The map was right from the start: no redirection was needed.
    QCOMPARE(router->stats().moved, 0u);
    QCOMPARE(router->stats().ask, 0u);
}

void tst_RedisRouter::scriptReloadedOnNoscript()
{
    auto router = openRouter(m_cluster.url(1));
    QVERIFY(becomesReady(*router));
    router->registerScript(SetAndGet);
    const QByteArray sha = SetAndGet.sha1();
    // Loaded on every primary at once.
    QVERIFY(waitUntil(
        [&] {
            for (int p = 0; p < Primaries; ++p) {
                if (m_cluster.server(p).command({"SCRIPT", "EXISTS", sha}) != "1")
                    return false;
            }
            return true;
        },
        5000));

    for (int p = 0; p < Primaries; ++p) {
        TestRedisServer &server = m_cluster.server(p);
        QCOMPARE(server.command({"SCRIPT", "FLUSH"}), QByteArray("OK"));
        QCOMPARE(server.command({"SCRIPT", "EXISTS", sha}), QByteArray("0"));
        const qint64 evalsBefore = server.commandCalls("eval");
        const qint64 evalshasBefore = server.commandCalls("evalsha");

        const QByteArray key = keyOn(p, "router:script:");
        const QByteArray value = "scripted-" + QByteArray::number(p);
        const RedisReply reply
            = QCoro::waitFor(router->evalScript(SetAndGet, QByteArrayList{key}, QByteArrayList{value}));
        QVERIFY2(reply.isString(), qPrintable(reply.toDebugString()));
        QCOMPARE(reply.bytes(), value);
        // It ran on the key's node: EVALSHA, NOSCRIPT, then EVAL there, which cached it again.
        QCOMPARE(server.command({"GET", key}), value);
        QVERIFY(server.commandCalls("evalsha") > evalshasBefore);
        QCOMPARE(server.commandCalls("eval"), evalsBefore + 1);
        QCOMPARE(server.command({"SCRIPT", "EXISTS", sha}), QByteArray("1"));
    }
}

void tst_RedisRouter::crossSlotScriptRefusedBeforeSending()
{
    auto router = openRouter(m_cluster.url(2));
    QVERIFY(becomesReady(*router));
    QVERIFY(keySlot("router:a") != keySlot("router:b"));

    auto calls = [&] {
        qint64 total = 0;
        for (int p = 0; p < Primaries; ++p)
            total += m_cluster.server(p).commandCalls("eval") + m_cluster.server(p).commandCalls("evalsha");
        return total;
    };
    const qint64 before = calls();
    const RedisReply refused = QCoro::waitFor(
        router->evalScript(SetAndGet, QByteArrayList{"router:a", "router:b"}, QByteArrayList{"x"}));
    QVERIFY(refused.isError());
    QVERIFY2(refused.bytes().startsWith("CROSSSLOT"), refused.bytes().constData());
    QCOMPARE(calls(), before); // no server saw it

    // Keys that share a hash tag share a slot: the same script goes through.
    QCOMPARE(keySlot("{router:t}:a"), keySlot("{router:t}:b"));
    const RedisReply tagged = QCoro::waitFor(router->evalScript(
        SetAndGet, QByteArrayList{"{router:t}:a", "{router:t}:b"}, QByteArrayList{"tagged"}));
    QCOMPARE(tagged.bytes(), QByteArray("tagged"));
    const int owner = m_cluster.primaryFor(keySlot("{router:t}:a"));
    QCOMPARE(m_cluster.server(owner).command({"GET", "{router:t}:a"}), QByteArray("tagged"));
    QVERIFY(calls() > before);
}

void tst_RedisRouter::unexpectedMovedWithoutClusterDetection()
{
    RedisRouter::Options options;
    options.detectCluster = false;
    auto router = openRouter(m_cluster.url(0), options);
    QSignalSpy errors(router.get(), &RedisRouter::errorOccurred);
    QVERIFY(becomesReady(*router));
    QCOMPARE(router->mode(), RedisRouter::Mode::Standalone);

    // A key of the node it talks to works as on any server.
    const QByteArray mine = keyOn(0, "router:mine:");
    QVERIFY(await(router->command(mine, {"SET", mine, "1"})).isOk());
    QCOMPARE(router->stats().unexpectedRedirects, 0u);
    const RedisRouter::Health before = healthOf(*router);
    QVERIFY2(before.up, qPrintable(before.detail));

    // Another node's key: the MOVED comes back as the error it is, and says what is wrong.
    const QByteArray theirs = keyOn(1, "router:theirs:");
    const RedisReply reply = await(router->command(theirs, {"GET", theirs}));
    QVERIFY(reply.isError());
    QVERIFY2(reply.bytes().startsWith("MOVED "), reply.bytes().constData());
    QVERIFY2(reply.bytes().endsWith(local(m_cluster.server(1).port()).toUtf8()), reply.bytes().constData());
    QCOMPARE(router->stats().unexpectedRedirects, 1u);
    QCOMPARE(router->stats().moved, 0u);
    QCOMPARE(router->mode(), RedisRouter::Mode::Standalone);
    QVERIFY(!errors.isEmpty());
    QVERIFY2(router->lastError().contains(QStringLiteral("cluster")), qPrintable(router->lastError()));

    const RedisRouter::Health health = healthOf(*router);
    QVERIFY(!health.up);
    QVERIFY2(health.detail.contains(QStringLiteral("cluster")), qPrintable(health.detail));
}

void tst_RedisRouter::askDuringMigration()
{
    auto router = openRouter(m_cluster.url(0));
    QVERIFY(becomesReady(*router));
    const QByteArray key = keyOn(0, "router:ask:");
    const int slot = keySlot(key);
    QVERIFY(await(router->command(key, {"SET", key, "asked"})).isOk());
    QCOMPARE(router->nodeFor(key), address(0));

    // The slot half-way from primary 0 to primary 1, the key already on 1.
    QVERIFY(startMigration(slot, 0, 1, key));
    QVERIFY(m_cluster.server(0).command({"GET", key}).startsWith("(error) ASK "));

    const RedisRouter::Stats before = router->stats();
    const RedisReply reply = await(router->get(key));
    QVERIFY2(reply.isString(), qPrintable(reply.toDebugString()));
    QCOMPARE(reply.bytes(), QByteArray("asked"));
    QCOMPARE(router->stats().ask, before.ask + 1);
    QCOMPARE(router->stats().moved, before.moved);
    // ASK leaves the map alone: the slot is still primary 0's.
    QCOMPARE(router->nodeFor(key), address(0));
    // And again: each command asks anew.
    QCOMPARE(await(router->get(key)).bytes(), QByteArray("asked"));
    QCOMPARE(router->stats().ask, before.ask + 2);
    QCOMPARE(router->nodeFor(key), address(0));

    // Finished: the next command is moved there for good.
    QVERIFY(finishMigration(slot, 1));
    QCOMPARE(await(router->get(key)).bytes(), QByteArray("asked"));
    QCOMPARE(router->nodeFor(key), address(1));
}

void tst_RedisRouter::movedAfterSlotMigration()
{
    auto router = openRouter(m_cluster.url(2));
    QVERIFY(becomesReady(*router));
    const QByteArray key = keyOn(0, "router:moved:");
    const int slot = keySlot(key);
    QVERIFY(await(router->command(key, {"SET", key, "moving"})).isOk());
    QCOMPARE(router->nodeFor(key), address(0));

    // By hand, as redis-cli --cluster reshard does it: slot from primary 0 to primary 1.
    QVERIFY(startMigration(slot, 0, 1, key));
    QVERIFY(finishMigration(slot, 1));
    QVERIFY(waitUntil([&] { return m_cluster.primaryFor(slot, 0) == 1; }, 5000));
    QCOMPARE(m_cluster.server(1).command({"GET", key}), QByteArray("moving"));
    QVERIFY(m_cluster.server(0).command({"GET", key}).startsWith("(error) MOVED "));

    const RedisRouter::Stats before = router->stats();
    const RedisReply reply = await(router->get(key));
    QVERIFY2(reply.isString(), qPrintable(reply.toDebugString()));
    QCOMPARE(reply.bytes(), QByteArray("moving"));
    QCOMPARE(router->stats().moved, before.moved + 1);
    QCOMPARE(router->nodeFor(key), address(1));

    // Routed there from now on: no more redirections, and writes land on primary 1.
    const RedisReply set = await(router->command(key, {"SET", key, "moved"}));
    QVERIFY2(set.isOk(), qPrintable(set.errorText()));
    QCOMPARE(router->stats().moved, before.moved + 1);
    QCOMPARE(m_cluster.server(1).command({"GET", key}), QByteArray("moved"));

    // The MOVED asked for the whole map again (within a second): primary 1 is listed with the
    // slot, and the routing stays as the MOVED set it.
    auto slotsOfPrimary1 = [&] {
        for (const RedisRouter::Node &n : router->nodes()) {
            if (n.address == address(1))
                return n.slots.split(u',');
        }
        return QStringList();
    };
    QVERIFY2(waitUntil([&] { return slotsOfPrimary1().contains(QString::number(slot)); }, 3000),
        qPrintable(slotsOfPrimary1().join(u',')));
    QVERIFY(router->stats().refreshes > before.refreshes);
    QCOMPARE(router->nodeFor(key), address(1));
    QCOMPARE(router->nodes().size(), Primaries);
    QCOMPARE(router->stats().failovers, before.failovers); // resharding is no failover
}

void tst_RedisRouter::redirectsToANodeAddedToTheCluster()
{
    // Scaling out: a new, empty primary joins and a slot is resharded to it. The router has never
    // heard of it: the ASK and then the MOVED are its first news of that node.
    TestRedisServer extra;
    const quint16 bus = TestRedisServer::freeLoopbackPort();
    QVERIFY2(
        extra.start({QStringLiteral("--cluster-enabled"), QStringLiteral("yes"),
            QStringLiteral("--cluster-port"), QString::number(bus), QStringLiteral("--cluster-config-file"),
            QStringLiteral("nodes.conf"), QStringLiteral("--cluster-node-timeout"), QStringLiteral("1000")}),
        qPrintable(extra.errorString()));
    const QByteArray extraId = extra.command({"CLUSTER", "MYID"});
    QCOMPARE(m_cluster.server(0).command(
                 {"CLUSTER", "MEET", "127.0.0.1", QByteArray::number(extra.port()), QByteArray::number(bus)}),
        QByteArray("OK"));
    QVERIFY(waitUntil(
        [&] {
            for (int i = 0; i < m_cluster.size(); ++i) {
                const QByteArray nodes = m_cluster.server(i).command({"CLUSTER", "NODES"});
                if (!nodes.contains(extraId) || nodes.contains("handshake"))
                    return false;
            }
            const QByteArray known = extra.command({"CLUSTER", "NODES"});
            return known.count('\n') + (known.endsWith('\n') ? 0 : 1) >= m_cluster.size() + 1
                && !known.contains("handshake")
                && extra.command({"CLUSTER", "INFO"}).contains("cluster_state:ok");
        },
        10000));

    auto router = openRouter(m_cluster.url(1));
    QVERIFY(becomesReady(*router));
    QCOMPARE(router->nodes().size(), Primaries);
    const QByteArray key = keyOn(0, "router:scale:");
    const int slot = keySlot(key);
    QVERIFY(await(router->command(key, {"SET", key, "scaled"})).isOk());

    auto check = [](const QByteArrayList &answers) {
        for (const QByteArray &answer : answers) {
            if (answer != "OK") {
                qWarning("migration: %s", answer.constData());
                return false;
            }
        }
        return true;
    };
    // IMPORTING, MIGRATING, MIGRATE of the key: half-way.
    auto start = [&](TestRedisServer &from, const QByteArray &fromId, TestRedisServer &to,
                     const QByteArray &toId) {
        return check({to.command({"CLUSTER", "SETSLOT", slotText(slot), "IMPORTING", fromId}),
            from.command({"CLUSTER", "SETSLOT", slotText(slot), "MIGRATING", toId}),
            from.command(
                {"MIGRATE", "127.0.0.1", QByteArray::number(to.port()), "", "0", "5000", "KEYS", key})});
    };
    // SETSLOT NODE on both ends, then on every primary. A master that gave away its last slot
    // turns into a replica of the node that took it as soon as gossip tells it (Redis 7's
    // cluster-allow-replica-migration): then it refuses SETSLOT, having learnt already.
    auto finish = [&](TestRedisServer &from, TestRedisServer &to, const QByteArray &toId) {
        QByteArrayList answers{to.command({"CLUSTER", "SETSLOT", slotText(slot), "NODE", toId})};
        const QByteArray fromAnswer = from.command({"CLUSTER", "SETSLOT", slotText(slot), "NODE", toId});
        if (!fromAnswer.contains("only with masters"))
            answers.append(fromAnswer);
        for (int p = 0; p < Primaries; ++p)
            answers.append(m_cluster.server(p).command({"CLUSTER", "SETSLOT", slotText(slot), "NODE", toId}));
        return check(answers);
    };

    // Half-way: ASK to the new node, through a connection made for it.
    QVERIFY(start(m_cluster.server(0), m_cluster.node(0).id, extra, extraId));
    const RedisRouter::Stats before = router->stats();
    RedisReply reply = await(router->get(key));
    QVERIFY2(reply.isString(), qPrintable(reply.toDebugString()));
    QCOMPARE(reply.bytes(), QByteArray("scaled"));
    QCOMPARE(router->stats().ask, before.ask + 1);
    QCOMPARE(router->nodeFor(key), address(0));

    // Done: MOVED there; the map read after it has four primaries.
    QVERIFY(finish(m_cluster.server(0), extra, extraId));
    reply = await(router->get(key));
    QVERIFY2(reply.isString(), qPrintable(reply.toDebugString()));
    QCOMPARE(reply.bytes(), QByteArray("scaled"));
    QCOMPARE(router->stats().moved, before.moved + 1);
    QCOMPARE(router->nodeFor(key), local(extra.port()));
    QVERIFY2(waitUntil([&] { return router->nodes().size() == Primaries + 1; }, 3000),
        qPrintable(router->describe()));
    QCOMPARE(router->describe(), QStringLiteral("cluster, 4 primaries"));
    const RedisRouter::Health four = healthOf(*router);
    QVERIFY2(four.up, qPrintable(four.detail));

    // And back: the new node empties and leaves the map; the slot is primary 0's again.
    QVERIFY(start(extra, extraId, m_cluster.server(0), m_cluster.node(0).id));
    QVERIFY(finish(extra, m_cluster.server(0), m_cluster.node(0).id));
    QCOMPARE(await(router->get(key)).bytes(), QByteArray("scaled"));
    QCOMPARE(router->nodeFor(key), address(0));
    QVERIFY2(
        waitUntil([&] { return router->nodes().size() == Primaries; }, 3000), qPrintable(router->describe()));
    QCOMPARE(router->stats().failovers, before.failovers);

    // The cluster forgets the node before it stops.
    for (int i = 0; i < m_cluster.size(); ++i)
        QCOMPARE(m_cluster.server(i).command({"CLUSTER", "FORGET", extraId}), QByteArray("OK"));
}

void tst_RedisRouter::manualClusterFailover()
{
    // CLUSTER FAILOVER on node 3: it takes primary 0's slots, and primary 0, alive, becomes its
    // replica (answering MOVED for those slots).
    constexpr int Old = 0;
    constexpr int Heir = 3;
    QCOMPARE(m_cluster.node(Heir).primary, Old);
    // Redis 7 leaves a replica out of CLUSTER SLOTS until its replication offset is above 0, i.e.
    // until its primary has replicated something, and the router's map is where it looks for a
    // primary's replicas. Let node 1 (which the router asks) list the heir before the router
    // reads its map; tst_clustermap's failoversSince(replica missing from the old map) is the
    // case where it does not.
    const QByteArray key = keyOn(Old, "router:takeover:");
    QCOMPARE(m_cluster.server(Old).command({"SET", key, "written directly"}), QByteArray("OK"));
    const QByteArray heirPort = QByteArray::number(m_cluster.server(Heir).port());
    QVERIFY(waitUntil(
        [&] {
            return m_cluster.server(1).command({"CLUSTER", "SLOTS"}).split('\n').contains(heirPort);
        },
        5000));
    auto router = openRouter(m_cluster.url(1));
    QVERIFY(becomesReady(*router));
    const int slot = keySlot(key);
    QVERIFY(await(router->command(key, {"SET", key, "handed over"})).isOk());
    QCOMPARE(await(router->command(key, {"WAIT", "1", "2000"})).toInteger(), 1);
    const RedisRouter::Stats before = router->stats();

    QCOMPARE(m_cluster.server(Heir).command({"CLUSTER", "FAILOVER"}), QByteArray("OK"));
    QVERIFY(waitUntil([&] { return m_cluster.primaryFor(slot, 1) == Heir; }, 10000));
    QVERIFY(waitUntil([&] { return m_cluster.server(Old).info("replication", "role") == "slave"; }, 5000));

    const RedisReply reply = await(router->get(key));
    QVERIFY2(reply.isString(), qPrintable(reply.toDebugString()));
    QCOMPARE(reply.bytes(), QByteArray("handed over"));
    QCOMPARE(router->nodeFor(key), address(Heir));
    const RedisReply set = await(router->command(key, {"SET", key, "by the heir"}));
    QVERIFY2(set.isOk(), qPrintable(set.errorText()));
    QCOMPARE(m_cluster.server(Heir).command({"GET", key}), QByteArray("by the heir"));

    // The map read after the redirection shows the replica in its primary's place: a failover.
    QVERIFY(waitUntil([&] { return router->stats().failovers > before.failovers; }, 3000));
    QCOMPARE(router->stats().failovers, before.failovers + 1);
    bool heirListed = false;
    for (const RedisRouter::Node &n : router->nodes()) {
        QVERIFY(n.address != address(Old));
        heirListed = heirListed || n.address == address(Heir);
    }
    QVERIFY(heirListed);
    const RedisRouter::Health health = healthOf(*router);
    QVERIFY2(health.up, qPrintable(health.detail));
}

void tst_RedisRouter::primaryFailover()
{
    // Primary 2 (and its replica, node 5) are the part of the cluster no earlier test changed.
    constexpr int Victim = 2;
    constexpr int Heir = 5;
    QCOMPARE(m_cluster.node(Heir).primary, Victim);
    auto router = openRouter(m_cluster.url(0));
    QSignalSpy topology(router.get(), &RedisRouter::topologyChanged);
    QVERIFY(becomesReady(*router));
    const QByteArray key = keyOn(Victim, "router:failover:");
    const QByteArray other = keyOn(1, "router:unaffected:");
    const int slot = keySlot(key);
    QVERIFY(await(router->command(key, {"SET", key, "before"})).isOk());
    // The replica has it before the primary dies (WAIT on the connection that wrote it).
    QCOMPARE(await(router->command(key, {"WAIT", "1", "2000"})).toInteger(), 1);
    const RedisRouter::Health healthy = healthOf(*router);
    QVERIFY2(healthy.up, qPrintable(healthy.detail));

    QElapsedTimer outage;
    outage.start();
    m_cluster.server(Victim).kill();

    // While nobody serves its slots: its commands fail, promptly; the other primaries' work.
    QElapsedTimer timer;
    timer.start();
    const RedisReply lost = await(router->get(key));
    QVERIFY2(!lost.isOk(), qPrintable(lost.toDebugString()));
    QVERIFY2(
        timer.elapsed() <= CommandTimeout.count() + SlackMs, qPrintable(QString::number(timer.elapsed())));
    QCOMPARE(await(router->get(other)).isOk(), true);
    const RedisRouter::Health down = healthOf(*router);
    QVERIFY(!down.up);
    QVERIFY2(down.detail.contains(address(Victim)), qPrintable(down.detail));
    bool victimListedDown = false;
    for (const RedisRouter::Node &n : down.nodes)
        victimListedDown = victimListedDown || (n.address == address(Victim) && !n.up);
    QVERIFY(victimListedDown);

    // Then the replica is promoted and the router follows: commands for the slot succeed again.
    int failures = 1;
    RedisReply back;
    while (outage.elapsed() < 20000) {
        const qsizetype seen = topology.count();
        timer.restart();
        back = await(router->get(key));
        QVERIFY2(timer.elapsed() <= CommandTimeout.count() + SlackMs,
            qPrintable(QStringLiteral("a command took %1 ms").arg(timer.elapsed())));
        if (back.isOk())
            break;
        ++failures;
        // Until the router's map changes (it looks again every second while a primary is down).
        waitUntil([&] { return topology.count() > seen; }, 250);
    }
    QVERIFY2(back.isOk(), qPrintable(back.toDebugString()));
    qInfo("slot %d served again after %lld ms, %d commands failed meanwhile", slot, qint64(outage.elapsed()),
        failures);
    QCOMPARE(back.bytes(), QByteArray("before"));
    QCOMPARE(m_cluster.primaryFor(slot, 0), Heir);
    QCOMPARE(router->nodeFor(key), address(Heir));
    QVERIFY(router->stats().failovers >= 1);

    const RedisReply set = await(router->command(key, {"SET", key, "after"}));
    QVERIFY2(set.isOk(), qPrintable(set.errorText()));
    QCOMPARE(m_cluster.server(Heir).command({"GET", key}), QByteArray("after"));

    const RedisRouter::Health up = healthOf(*router);
    QVERIFY2(up.up, qPrintable(up.detail));
    QCOMPARE(up.nodes.size(), Primaries);
    bool heirListed = false;
    for (const RedisRouter::Node &n : up.nodes) {
        QVERIFY(n.address != address(Victim));
        heirListed = heirListed || n.address == address(Heir);
    }
    QVERIFY(heirListed);
}

void tst_RedisRouter::sentinelFollowsTheMaster()
{
    TestRedisSentinel setup;
    QVERIFY2(setup.start(1000ms, 3000ms), qPrintable(setup.errorString()));
    auto router = openRouter(setup.url());
    QVERIFY(becomesReady(*router, 10s));
    QCOMPARE(router->mode(), RedisRouter::Mode::Sentinel);
    QVERIFY(!router->isCluster());
    const QString firstMaster = local(setup.server(0).port());
    QVERIFY2(router->describe().contains(firstMaster), qPrintable(router->describe()));
    QVERIFY2(router->describe().contains(QStringLiteral("cachedash")), qPrintable(router->describe()));

    const QByteArray key("router:sentinel");
    QVERIFY(await(router->command(key, {"SET", key, "first"})).isOk());
    QCOMPARE(setup.server(0).command({"GET", key}), QByteArray("first"));
    QCOMPARE(router->nodeFor(key), firstMaster);
    QCOMPARE(await(router->command(key, {"WAIT", "1", "2000"})).toInteger(), 1);
    const QList<RedisRouter::Node> nodes = router->nodes();
    QCOMPARE(nodes.size(), 1);
    QCOMPARE(nodes[0].role, QStringLiteral("master"));
    QCOMPARE(nodes[0].address, firstMaster);
    QCOMPARE(router->stats().failovers, 0u);

    QElapsedTimer outage;
    outage.start();
    setup.server(0).kill();

    // Commands fail (promptly) until the sentinels name the replica, then work there.
    QSignalSpy topology(router.get(), &RedisRouter::topologyChanged);
    const QByteArray written("router:sentinel:after");
    RedisReply set;
    QElapsedTimer timer;
    while (outage.elapsed() < 25000) {
        const qsizetype seen = topology.count();
        timer.restart();
        set = await(router->command(written, {"SET", written, "second"}));
        QVERIFY2(timer.elapsed() <= CommandTimeout.count() + SlackMs,
            qPrintable(QStringLiteral("a command took %1 ms").arg(timer.elapsed())));
        if (set.isOk())
            break;
        waitUntil([&] { return topology.count() > seen; }, 250);
    }
    QVERIFY2(set.isOk(), qPrintable(set.toDebugString() + QStringLiteral("; ") + router->lastError()));
    qInfo("master back after %lld ms", qint64(outage.elapsed()));

    const QString newMaster = local(setup.server(1).port());
    QCOMPARE(setup.server(1).info("replication", "role"), QByteArray("master"));
    QCOMPARE(setup.server(1).command({"GET", written}), QByteArray("second"));
    QCOMPARE(await(router->get(key)).bytes(), QByteArray("first"));
    QCOMPARE(router->nodeFor(key), newMaster);
    QVERIFY2(router->describe().contains(newMaster), qPrintable(router->describe()));
    QVERIFY(router->stats().failovers >= 1);
    QCOMPARE(router->mode(), RedisRouter::Mode::Sentinel);
    const RedisRouter::Health health = healthOf(*router);
    QVERIFY2(health.up, qPrintable(health.detail));
}

void tst_RedisRouter::sentinelManualFailover()
{
    // SENTINEL FAILOVER: the master stays up and is demoted (the sentinels kill its clients'
    // connections); the router must end up writing to the new master, never to the old one.
    TestRedisSentinel setup;
    QVERIFY2(setup.start(1000ms, 3000ms), qPrintable(setup.errorString()));
    auto router = openRouter(setup.url());
    QVERIFY(becomesReady(*router, 10s));
    const QByteArray key("router:sentinel:manual");
    QVERIFY(await(router->command(key, {"SET", key, "0"})).isOk());
    QCOMPARE(router->nodeFor(key), local(setup.server(0).port()));
    QCOMPARE(await(router->command(key, {"WAIT", "1", "2000"})).toInteger(), 1);

    QElapsedTimer switching;
    switching.start();
    QCOMPARE(setup.sentinel(0).command({"SENTINEL", "FAILOVER", setup.masterName()}), QByteArray("OK"));
    QVERIFY(waitUntil([&] { return setup.masterPort(0) == setup.server(1).port(); }, 15000));

    // Writes go on; each one answers in time, and once the router has moved, they land on server 1.
    const QString newMaster = local(setup.server(1).port());
    int n = 0;
    QElapsedTimer timer;
    while (switching.elapsed() < 20000) {
        timer.restart();
        const RedisReply set = await(router->command(key, {"SET", key, QByteArray::number(++n)}));
        QVERIFY2(timer.elapsed() <= CommandTimeout.count() + SlackMs,
            qPrintable(QStringLiteral("a command took %1 ms").arg(timer.elapsed())));
        if (set.isOk() && router->nodeFor(key) == newMaster
            && setup.server(1).command({"GET", key}) == QByteArray::number(n))
            break;
        waitUntil([&] { return router->nodeFor(key) == newMaster; }, 250);
    }
    QCOMPARE(router->nodeFor(key), newMaster);
    QCOMPARE(setup.server(1).command({"GET", key}), QByteArray::number(n));
    qInfo("writes on the new master after %lld ms", qint64(switching.elapsed()));
    QVERIFY(router->stats().failovers >= 1);
    QVERIFY2(router->describe().contains(newMaster), qPrintable(router->describe()));

    // From now on whatever the router writes reaches the new master (the sentinels turn the old
    // one into a replica at their own pace, up to ten seconds later: not waited for here).
    QVERIFY(await(router->command(key, {"SET", key, "final"})).isOk());
    QCOMPARE(setup.server(1).command({"GET", key}), QByteArray("final"));
    const RedisRouter::Health health = healthOf(*router);
    QVERIFY2(health.up, qPrintable(health.detail));
}

QTEST_GUILESS_MAIN(tst_RedisRouter)
#include "tst_redisrouter.moc"
