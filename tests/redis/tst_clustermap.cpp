// SPDX-License-Identifier: GPL-3.0-or-later
#include "redis/clustermap.h"
#include "redis/keyslot.h"
#include "redis/redisreply.h"

#include <QTest>

#include <vector>

using Cachedash::ClusterMap;
using Cachedash::ClusterSlots;
using Cachedash::RedisReply;
using Cachedash::RedisUrl;

namespace {

using Address = RedisUrl::Address;

// A node entry as Redis 7 writes it in CLUSTER SLOTS: [ip, port, id, {metadata}].
RedisReply node(const QByteArray &host, qint64 port, const QByteArray &id = QByteArrayLiteral("0123abcd"))
{
    return RedisReply::array(
        {RedisReply::string(host), RedisReply::integer(port), RedisReply::string(id), RedisReply::array({})});
}

// [first, last, primary, replicas...]
RedisReply range(int first, int last, RedisReply primary, std::vector<RedisReply> replicas = {})
{
    std::vector<RedisReply> e{RedisReply::integer(first), RedisReply::integer(last), std::move(primary)};
    for (RedisReply &replica : replicas)
        e.push_back(std::move(replica));
    return RedisReply::array(std::move(e));
}

const Address Answerer{QStringLiteral("10.0.0.9"), 7009};

ClusterMap mapOf(std::vector<RedisReply> ranges)
{
    QString error;
    const auto map = ClusterMap::fromClusterSlots(RedisReply::array(std::move(ranges)), Answerer, &error);
    if (!map)
        qFatal("not a slot map: %s", qPrintable(error));
    return *map;
}

// The three-primary cluster the fixtures build: 0-5460, 5461-10921, 10922-16383; replicas on
// ports 7003, 7004 and 7005 follow primaries 7000, 7001 and 7002.
ClusterMap threePrimaries()
{
    return mapOf({range(0, 5460, node("127.0.0.1", 7000), {node("127.0.0.1", 7003)}),
        range(5461, 10921, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
        range(10922, 16383, node("127.0.0.1", 7002), {node("127.0.0.1", 7005)})});
}

Address local(quint16 port)
{
    return Address{QStringLiteral("127.0.0.1"), port};
}

// Addresses as text, so that a failed comparison shows them.
QStringList names(const QList<Address> &addresses)
{
    QStringList out;
    for (const Address &address : addresses)
        out.append(address.toString());
    return out;
}

QStringList names(std::initializer_list<quint16> ports)
{
    QStringList out;
    for (quint16 port : ports)
        out.append(local(port).toString());
    return out;
}

} // namespace

Q_DECLARE_METATYPE(Cachedash::ClusterMap)

class tst_ClusterMap : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void rangesAndPrimaries();
    void onePrimaryWithSeveralRanges();
    void partialCoverage();
    void emptyReplyIsAnEmptyMap();
    void hostlessNodeIsTheOneThatAnswered_data();
    void hostlessNodeIsTheOneThatAnswered();
    void badRepliesAreRejected_data();
    void badRepliesAreRejected();
    void equality();
    void failoversSince_data();
    void failoversSince();
};

void tst_ClusterMap::rangesAndPrimaries()
{
    // Given out of order, as a node may list them.
    QString error;
    const auto map = ClusterMap::fromClusterSlots(
        RedisReply::array({range(10922, 16383, node("127.0.0.1", 7002), {node("127.0.0.1", 7005)}),
            range(0, 5460, node("127.0.0.1", 7000), {node("127.0.0.1", 7003), node("127.0.0.1", 7006)}),
            range(5461, 10921, node("127.0.0.1", 7001))}),
        Answerer, &error);
    QVERIFY2(map, qPrintable(error));
    QVERIFY(!map->isEmpty());

    // Primaries in the order the reply names them; ranges sorted by their first slot.
    QCOMPARE(names(map->primaries()), names({7002, 7000, 7001}));
    QCOMPARE(map->ranges().size(), 3);
    QCOMPARE(map->ranges()[0].first, 0);
    QCOMPARE(map->ranges()[0].last, 5460);
    QCOMPARE(map->primaries()[map->ranges()[0].primary], local(7000));
    QCOMPARE(names(map->ranges()[0].replicas), names({7003, 7006}));
    QCOMPARE(map->ranges()[1].first, 5461);
    QCOMPARE(map->ranges()[1].last, 10921);
    QCOMPARE(map->primaries()[map->ranges()[1].primary], local(7001));
    QVERIFY(map->ranges()[1].replicas.isEmpty());
    QCOMPARE(map->ranges()[2].first, 10922);
    QCOMPARE(map->ranges()[2].last, 16383);
    QCOMPARE(map->primaries()[map->ranges()[2].primary], local(7002));

    // Every slot, the boundaries included, has its owner.
    const std::pair<int, quint16> owners[]
        = {{0, 7000}, {5460, 7000}, {5461, 7001}, {10921, 7001}, {10922, 7002}, {16383, 7002}};
    for (const auto &[slot, port] : owners)
        QCOMPARE(map->primaries()[map->primaryOf(slot)], local(port));
    QCOMPARE(map->primaryOf(-1), -1);
    QCOMPARE(map->primaryOf(ClusterSlots), -1);
    QCOMPARE(map->uncoveredSlots(), 0);

    QCOMPARE(map->slotsOf(map->primaries().indexOf(local(7000))), QStringLiteral("0-5460"));
    QCOMPARE(map->slotsOf(map->primaries().indexOf(local(7001))), QStringLiteral("5461-10921"));
    QCOMPARE(map->slotsOf(map->primaries().indexOf(local(7002))), QStringLiteral("10922-16383"));
    QCOMPARE(map->slotsOf(7), QString());

    // Primaries first, then every replica once.
    QCOMPARE(names(map->allNodes()), names({7002, 7000, 7001, 7003, 7006, 7005}));
}

void tst_ClusterMap::onePrimaryWithSeveralRanges()
{
    // After resharding by hand a primary serves runs that are not adjacent, and single slots.
    const ClusterMap map = mapOf({range(200, 4999, node("127.0.0.1", 7000), {node("127.0.0.1", 7003)}),
        range(0, 100, node("127.0.0.1", 7000), {node("127.0.0.1", 7003)}),
        range(101, 199, node("127.0.0.1", 7001)), range(5000, 5000, node("127.0.0.1", 7001)),
        range(5001, 16383, node("127.0.0.1", 7000), {node("127.0.0.1", 7003)})});
    // A primary named in several ranges is one primary.
    QCOMPARE(names(map.primaries()), names({7000, 7001}));
    QCOMPARE(map.slotsOf(0), QStringLiteral("0-100,200-4999,5001-16383"));
    QCOMPARE(map.slotsOf(1), QStringLiteral("101-199,5000"));
    QCOMPARE(map.primaryOf(100), 0);
    QCOMPARE(map.primaryOf(101), 1);
    QCOMPARE(map.primaryOf(199), 1);
    QCOMPARE(map.primaryOf(200), 0);
    QCOMPARE(map.primaryOf(5000), 1);
    QCOMPARE(map.primaryOf(5001), 0);
    QCOMPARE(map.uncoveredSlots(), 0);
    // The replica shared by three ranges is listed once.
    QCOMPARE(names(map.allNodes()), names({7000, 7001, 7003}));
}

void tst_ClusterMap::partialCoverage()
{
    // A primary lost with no replica to take over: its slots are served by nobody.
    const ClusterMap map
        = mapOf({range(0, 5460, node("127.0.0.1", 7000)), range(10922, 16383, node("127.0.0.1", 7002))});
    QCOMPARE(map.uncoveredSlots(), 10921 - 5461 + 1);
    QCOMPARE(map.primaryOf(5460), 0);
    QCOMPARE(map.primaryOf(5461), -1);
    QCOMPARE(map.primaryOf(10921), -1);
    QCOMPARE(map.primaryOf(10922), 1);

    const ClusterMap one = mapOf({range(42, 42, node("127.0.0.1", 7000))});
    QCOMPARE(one.uncoveredSlots(), ClusterSlots - 1);
    QCOMPARE(one.slotsOf(0), QStringLiteral("42"));
    QCOMPARE(one.primaryOf(42), 0);
    QCOMPARE(one.primaryOf(41), -1);
    QCOMPARE(one.primaryOf(43), -1);
}

void tst_ClusterMap::emptyReplyIsAnEmptyMap()
{
    // A cluster node with no slots assigned yet answers an empty array: a map, with nothing in it.
    QString error;
    const auto map = ClusterMap::fromClusterSlots(RedisReply::array({}), Answerer, &error);
    QVERIFY2(map, qPrintable(error));
    QVERIFY(map->isEmpty());
    QVERIFY(map->primaries().isEmpty());
    QCOMPARE(map->uncoveredSlots(), ClusterSlots);
    QCOMPARE(map->primaryOf(0), -1);
    QVERIFY(map->allNodes().isEmpty());

    const ClusterMap none;
    QVERIFY(none.isEmpty());
    QCOMPARE(none.uncoveredSlots(), ClusterSlots);
    QCOMPARE(none.primaryOf(0), -1);
    QCOMPARE(none.failoversSince(threePrimaries()), 0);
    QCOMPARE(threePrimaries().failoversSince(none), 0);
}

void tst_ClusterMap::hostlessNodeIsTheOneThatAnswered_data()
{
    QTest::addColumn<QByteArray>("announced");
    // Redis writes "" when a node does not know its own address, "?" with
    // cluster-preferred-endpoint-type unknown-endpoint.
    QTest::newRow("empty") << QByteArray("");
    QTest::newRow("question mark") << QByteArray("?");
}

void tst_ClusterMap::hostlessNodeIsTheOneThatAnswered()
{
    QFETCH(QByteArray, announced);
    QString error;
    const auto map = ClusterMap::fromClusterSlots(
        RedisReply::array({range(0, 8191, node(announced, 7100), {node(announced, 7101)}),
            range(8192, 16383, node("10.0.0.2", 7200))}),
        Answerer, &error);
    QVERIFY2(map, qPrintable(error));
    // The answering node's host, with the port the reply gives (not the answering node's port).
    QCOMPARE(names(map->primaries()),
        (QStringList{QStringLiteral("10.0.0.9:7100"), QStringLiteral("10.0.0.2:7200")}));
    QCOMPARE(names(map->ranges()[0].replicas), QStringList{QStringLiteral("10.0.0.9:7101")});
    QCOMPARE(map->uncoveredSlots(), 0);
}

void tst_ClusterMap::badRepliesAreRejected_data()
{
    QTest::addColumn<RedisReply>("reply");
    QTest::addColumn<QString>("mentions");

    const RedisReply good = node("127.0.0.1", 7000);
    QTest::newRow("server error") << RedisReply::error("ERR This instance has cluster support disabled")
                                  << "cluster support disabled";
    QTest::newRow("failure") << RedisReply::failure(RedisReply::Failure::Timeout) << "";
    QTest::newRow("nil") << RedisReply::nil() << "array";
    QTest::newRow("status") << RedisReply::status("OK") << "array";
    QTest::newRow("string") << RedisReply::string("0 16383 127.0.0.1 7000") << "array";
    QTest::newRow("integer") << RedisReply::integer(3) << "array";
    QTest::newRow("entry not an array") << RedisReply::array({RedisReply::integer(0)}) << "entry";
    QTest::newRow("entry without a primary")
        << RedisReply::array({RedisReply::array({RedisReply::integer(0), RedisReply::integer(16383)})})
        << "entry";
    QTest::newRow("first slot a string")
        << RedisReply::array({RedisReply::array({RedisReply::string("0"), RedisReply::integer(16383), good})})
        << "entry";
    QTest::newRow("last slot nil") << RedisReply::array(
        {RedisReply::array({RedisReply::integer(0), RedisReply::nil(), good})})
                                   << "entry";
    QTest::newRow("negative first slot") << RedisReply::array({range(-1, 100, good)}) << "out of bounds";
    QTest::newRow("last slot past the end")
        << RedisReply::array({range(0, ClusterSlots, good)}) << "out of bounds";
    QTest::newRow("first after last") << RedisReply::array({range(200, 100, good)}) << "out of bounds";
    QTest::newRow("primary not an array") << RedisReply::array({RedisReply::array(
        {RedisReply::integer(0), RedisReply::integer(16383), RedisReply::string("127.0.0.1:7000")})})
                                          << "node";
    QTest::newRow("primary without a port")
        << RedisReply::array({range(0, 16383, RedisReply::array({RedisReply::string("127.0.0.1")}))})
        << "node";
    QTest::newRow("host an integer") << RedisReply::array(
        {range(0, 16383, RedisReply::array({RedisReply::integer(127), RedisReply::integer(7000)}))})
                                     << "node";
    QTest::newRow("port a string") << RedisReply::array(
        {range(0, 16383, RedisReply::array({RedisReply::string("127.0.0.1"), RedisReply::string("7000")}))})
                                   << "node";
    QTest::newRow("port zero") << RedisReply::array({range(0, 16383, node("127.0.0.1", 0))}) << "port";
    QTest::newRow("port too big") << RedisReply::array({range(0, 16383, node("127.0.0.1", 65536))}) << "port";
    QTest::newRow("bad replica") << RedisReply::array({range(0, 16383, good, {node("127.0.0.1", -5)})})
                                 << "port";
    QTest::newRow("bad second entry")
        << RedisReply::array({range(0, 100, good), RedisReply::array({RedisReply::integer(101)})}) << "entry";
}

void tst_ClusterMap::badRepliesAreRejected()
{
    QFETCH(RedisReply, reply);
    QFETCH(QString, mentions);
    QString error;
    QVERIFY(!ClusterMap::fromClusterSlots(reply, Answerer, &error));
    QVERIFY2(!error.isEmpty(), "a rejected reply says why");
    QVERIFY2(error.contains(mentions), qPrintable(error));
    // Without somewhere to put the reason, it is rejected all the same.
    QVERIFY(!ClusterMap::fromClusterSlots(reply, Answerer));
}

void tst_ClusterMap::equality()
{
    QCOMPARE(threePrimaries(), threePrimaries());
    // One slot resharded: another map.
    const ClusterMap resharded = mapOf({range(0, 5459, node("127.0.0.1", 7000), {node("127.0.0.1", 7003)}),
        range(5460, 10921, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
        range(10922, 16383, node("127.0.0.1", 7002), {node("127.0.0.1", 7005)})});
    QVERIFY(!(resharded == threePrimaries()));
    // The same slots on another primary: another map.
    const ClusterMap promoted = mapOf({range(0, 5460, node("127.0.0.1", 7003)),
        range(5461, 10921, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
        range(10922, 16383, node("127.0.0.1", 7002), {node("127.0.0.1", 7005)})});
    QVERIFY(!(promoted == threePrimaries()));
}

void tst_ClusterMap::failoversSince_data()
{
    QTest::addColumn<ClusterMap>("before");
    QTest::addColumn<ClusterMap>("after");
    QTest::addColumn<int>("failovers");

    const ClusterMap before = threePrimaries();
    QTest::newRow("unchanged") << before << threePrimaries() << 0;
    // 7000 died; its replica 7003 serves its slots (7000, back, follows 7003).
    QTest::newRow("replica promoted")
        << before
        << mapOf({range(0, 5460, node("127.0.0.1", 7003), {node("127.0.0.1", 7000)}),
               range(5461, 10921, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
               range(10922, 16383, node("127.0.0.1", 7002), {node("127.0.0.1", 7005)})})
        << 1;
    QTest::newRow("promoted replica, dead primary not listed")
        << before
        << mapOf({range(5461, 10921, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
               range(10922, 16383, node("127.0.0.1", 7002), {node("127.0.0.1", 7005)}),
               range(0, 5460, node("127.0.0.1", 7003))})
        << 1;
    QTest::newRow("two replicas promoted")
        << before
        << mapOf({range(0, 5460, node("127.0.0.1", 7003)), range(5461, 10921, node("127.0.0.1", 7004)),
               range(10922, 16383, node("127.0.0.1", 7002), {node("127.0.0.1", 7005)})})
        << 2;
    // Resharding moves slots to another primary that never was a replica: no failover.
    QTest::newRow("slots resharded to another primary")
        << before
        << mapOf({range(0, 100, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
               range(101, 5460, node("127.0.0.1", 7000), {node("127.0.0.1", 7003)}),
               range(5461, 10921, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
               range(10922, 16383, node("127.0.0.1", 7002), {node("127.0.0.1", 7005)})})
        << 0;
    QTest::newRow("all slots of a primary resharded away")
        << before
        << mapOf({range(0, 5460, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
               range(5461, 10921, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
               range(10922, 16383, node("127.0.0.1", 7002), {node("127.0.0.1", 7005)})})
        << 0;
    QTest::newRow("primary lost, nobody took over")
        << before
        << mapOf({range(5461, 10921, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
               range(10922, 16383, node("127.0.0.1", 7002), {node("127.0.0.1", 7005)})})
        << 0;
    // A primary serving two runs of slots, both taken over by its replica: one failover.
    const ClusterMap split = mapOf({range(0, 100, node("127.0.0.1", 7000), {node("127.0.0.1", 7003)}),
        range(101, 200, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
        range(201, 16383, node("127.0.0.1", 7000), {node("127.0.0.1", 7003)})});
    QTest::newRow("two runs, one failover")
        << split
        << mapOf({range(0, 100, node("127.0.0.1", 7003)),
               range(101, 200, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
               range(201, 16383, node("127.0.0.1", 7003))})
        << 1;
    // Redis 7 leaves a replica out of CLUSTER SLOTS while its replication offset is 0 (a primary
    // that has replicated nothing yet): the map read before the failover named no replica. After
    // a manual failover (CLUSTER FAILOVER) the old primary, alive, follows the node that took its
    // slots: that is a failover all the same.
    QTest::newRow("replica missing from the old map, old primary now follows it")
        << mapOf({range(0, 5460, node("127.0.0.1", 7000)),
               range(5461, 10921, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
               range(10922, 16383, node("127.0.0.1", 7002), {node("127.0.0.1", 7005)})})
        << mapOf({range(0, 5460, node("127.0.0.1", 7003), {node("127.0.0.1", 7000)}),
               range(5461, 10921, node("127.0.0.1", 7001), {node("127.0.0.1", 7004)}),
               range(10922, 16383, node("127.0.0.1", 7002), {node("127.0.0.1", 7005)})})
        << 1;
    // A replica promoted and, in the same look, another primary's slots resharded to it.
    QTest::newRow("promotion and resharding")
        << split
        << mapOf({range(0, 200, node("127.0.0.1", 7003)), range(201, 16383, node("127.0.0.1", 7003))}) << 1;
}

void tst_ClusterMap::failoversSince()
{
    QFETCH(ClusterMap, before);
    QFETCH(ClusterMap, after);
    QFETCH(int, failovers);
    QCOMPARE(after.failoversSince(before), failovers);
}

QTEST_GUILESS_MAIN(tst_ClusterMap)
#include "tst_clustermap.moc"
