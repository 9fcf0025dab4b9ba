// SPDX-License-Identifier: GPL-3.0-or-later
#include "app/redisobserver.h"
#include "cache/reportcache.h"
#include "ratelimit/ratelimiter.h"
#include "redis/keyslot.h"
#include "redis/redisrouter.h"
#include "testlib/testrediscluster.h"
#include "testlib/testredisserver.h"
#include "testlib/testservice.h"
#include "testlib/testserviceoptions.h"

#include <QDeadlineTimer>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTest>

#include <qcoro/qcorotask.h>

#include <algorithm>
#include <functional>

using namespace std::chrono_literals;
using namespace Cachedash;
using Cachedash::Test::TestRedisCluster;
using Cachedash::Test::TestRedisServer;
using Cachedash::Test::TestService;

class tst_RedisObserver : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void keyspaceNotificationsShowChangesAtOnce();
    void withoutConfigItPolls();
    void followsTheKeysNodeOnACluster();

private:
    // The PTTL of the first snapshot from Redis that satisfies `accept` within `ms` (earlier ones
    // are taken off the spy), or -99.
    static qint64 waitFor(QSignalSpy &spy, const std::function<bool(qint64)> &accept, int ms);
    // Returns once the observer has handled every notification Redis sent before this call, and
    // any snapshot that one asked for has been emitted. Redis writes a notification to the
    // observer's subscriber in the turn of the command that caused it, so it arrives before the
    // answer to any later command, here a PING on the service's connection; the event loop turn
    // that delivers that answer has the notification too, and the observer asks for its snapshot
    // on a zero timer, in the next turn. A poll asked for then goes over the same connection
    // before a third PING, whose answer comes after the poll's, and so after its snapshot.
    static bool notificationsHandled(Service &service);
};

qint64 tst_RedisObserver::waitFor(QSignalSpy &spy, const std::function<bool(qint64)> &accept, int ms)
{
    const QDeadlineTimer deadline(ms);
    do {
        while (!spy.isEmpty()) {
            const auto snapshot = spy.takeFirst().at(0).value<DashboardSnapshot>();
            if (snapshot.redisAnswered && accept(snapshot.reportPttlMs))
                return snapshot.reportPttlMs;
        }
    } while (spy.wait(int(std::max<qint64>(1, deadline.remainingTime()))));
    return -99;
}

bool tst_RedisObserver::notificationsHandled(Service &service)
{
    for (int i = 0; i < 3; ++i) {
        RedisPendingReply ping = service.redis().ping();
        if (!QCoro::waitFor(ping).isOk())
            return false;
    }
    return true;
}

void tst_RedisObserver::keyspaceNotificationsShowChangesAtOnce()
{
    TestRedisServer redis;
    QVERIFY2(redis.start(), qPrintable(redis.errorString()));
    TestService service;
    QVERIFY2(service.start(Cachedash::Test::testServiceOptions(redis)), qPrintable(service.errorString()));
    RedisObserver observer(*service);
    observer.setPollInterval(60s); // from here on only a notification can bring news quickly
    observer.setRegion(QStringLiteral("emea"));
    QTRY_VERIFY(observer.notificationsActive());
    QVERIFY(redis.command({"CONFIG", "GET", "notify-keyspace-events"}).contains('K'));
    QSignalSpy spy(&observer, &RedisObserver::snapshotReady);

    QCOMPARE(redis.command({"SET", "report:emea", "{}", "EX", "30"}), QByteArray("OK"));
    QVERIFY(waitFor(
                spy, [](qint64 pttl) { return pttl > 29000; }, 1000)
        > 0);
    QCOMPARE(redis.command({"DEL", "report:emea"}), QByteArray("1"));
    QCOMPARE(waitFor(
                 spy, [](qint64 pttl) { return pttl == -2; }, 1000),
        -2);
    // Expiry, too: Redis removes the key and says so.
    QCOMPARE(redis.command({"SET", "report:emea", "{}", "PX", "200"}), QByteArray("OK"));
    QVERIFY(waitFor(
                spy, [](qint64 pttl) { return pttl > 0; }, 1000)
        > 0);
    QCOMPARE(waitFor(
                 spy, [](qint64 pttl) { return pttl == -2; }, 2000),
        -2);
    // Other regions' keys do not wake the observer: once it has handled their notification, it
    // has asked for no snapshot.
    QVERIFY(notificationsHandled(*service));
    spy.clear();
    redis.command({"SET", "report:apac", "{}", "EX", "30"});
    QVERIFY(notificationsHandled(*service));
    QVERIFY(spy.isEmpty());
    // While its own region's still do. (SET ... EX notifies twice, set and expire: the second may
    // arrive during the poll the first started, which then reads again.)
    QCOMPARE(redis.command({"SET", "report:emea", "{}", "EX", "30"}), QByteArray("OK"));
    QVERIFY(notificationsHandled(*service));
    QTRY_VERIFY(!spy.isEmpty());
    QVERIFY(spy.size() <= 2);
    QVERIFY(spy.last().at(0).value<DashboardSnapshot>().reportPttlMs > 29000);
}

void tst_RedisObserver::withoutConfigItPolls()
{
    TestRedisServer locked;
    QVERIFY2(locked.start({QStringLiteral("--rename-command"), QStringLiteral("CONFIG"), QString()}),
        qPrintable(locked.errorString()));
    TestService service;
    QVERIFY2(service.start(Cachedash::Test::testServiceOptions(locked)), qPrintable(service.errorString()));
    // The observer says that it falls back to polling (and QtTest fails the test if it does not).
    QTest::ignoreMessage(QtInfoMsg, QRegularExpression(QStringLiteral("keyspace notifications unavailable")));
    RedisObserver observer(*service);
    observer.setPollInterval(200ms);
    observer.setRegion(QStringLiteral("emea"));
    QSignalSpy spy(&observer, &RedisObserver::snapshotReady);
    // Its first snapshot went over the connection after the refused CONFIG GET, so by then it has
    // given up on notifications for good.
    QVERIFY(spy.wait(2000));
    QVERIFY(!observer.notificationsActive());
    QCOMPARE(locked.command({"SET", "report:emea", "{}", "EX", "30"}), QByteArray("OK"));
    QVERIFY(waitFor(
                spy, [](qint64 pttl) { return pttl > 28000; }, 1500)
        > 0);
    QVERIFY(!observer.notificationsActive());
}

// On a cluster, notifications are per node: the observer listens to the node that holds the
// watched report, reads each key on its own node, says which node that is, and follows the report
// when its slot moves to another primary.
void tst_RedisObserver::followsTheKeysNodeOnACluster()
{
    TestRedisCluster cluster;
    QVERIFY2(cluster.start(3, 0), qPrintable(cluster.errorString()));
    TestService service;
    QVERIFY2(service.start(Cachedash::Test::testServiceOptions(cluster.server(0))),
        qPrintable(service.errorString()));
    QCOMPARE(service->redis().mode(), RedisRouter::Mode::Cluster);
    RedisObserver observer(*service);
    observer.setPollInterval(60s);
    observer.setRegion(QStringLiteral("emea"));
    observer.setClient(QStringLiteral("127.0.0.1"));
    QTRY_VERIFY(observer.notificationsActive());
    QSignalSpy spy(&observer, &RedisObserver::snapshotReady);

    const QByteArray key = ReportCache::keyFor(QStringLiteral("emea"));
    const int slot = keySlot(key);
    const int owner = cluster.primaryFor(slot);
    const QString ownerAddress = QStringLiteral("127.0.0.1:%1").arg(cluster.server(owner).port());
    QCOMPARE(cluster.server(owner).command({"SET", key, "{}", "EX", "30"}), QByteArray("OK"));
    QVERIFY(waitFor(
                spy, [](qint64 pttl) { return pttl > 29000; }, 2000)
        > 0);
    const auto seen = [&spy] {
        return spy.isEmpty() ? DashboardSnapshot() : spy.last().at(0).value<DashboardSnapshot>();
    };
    observer.pollSoon();
    QTRY_VERIFY(seen().redisAnswered);
    QCOMPARE(seen().reportNode, ownerAddress);
    const int limiterOwner = cluster.primaryFor(keySlot(RateLimiter::keyFor(QStringLiteral("127.0.0.1"))));
    QCOMPARE(seen().limiterNode, QStringLiteral("127.0.0.1:%1").arg(cluster.server(limiterOwner).port()));
    QVERIFY(seen().redisMode.startsWith(QStringLiteral("cluster, 3 primaries")));

    // The report's slot moves to another primary, key and all.
    const int to = (owner + 1) % 3;
    const QByteArray s = QByteArray::number(slot);
    QCOMPARE(cluster.server(to).command({"CLUSTER", "SETSLOT", s, "IMPORTING", cluster.node(owner).id}),
        QByteArray("OK"));
    QCOMPARE(cluster.server(owner).command({"CLUSTER", "SETSLOT", s, "MIGRATING", cluster.node(to).id}),
        QByteArray("OK"));
    QCOMPARE(cluster.server(owner).command({"MIGRATE", "127.0.0.1",
                 QByteArray::number(cluster.server(to).port()), "", "0", "5000", "KEYS", key}),
        QByteArray("OK"));
    for (int p : {to, owner, 3 - to - owner})
        QCOMPARE(cluster.server(p).command({"CLUSTER", "SETSLOT", s, "NODE", cluster.node(to).id}),
            QByteArray("OK"));
    // The service meets the move (MOVED), reads the map again, and the observer follows.
    RedisPendingReply read = service->redis().get(key);
    QVERIFY(QCoro::waitFor(read).isString());
    const QString toAddress = QStringLiteral("127.0.0.1:%1").arg(cluster.server(to).port());
    QTRY_COMPARE(service->redis().nodeFor(key), toAddress);
    QTRY_VERIFY(observer.notificationsActive());
    spy.clear();
    // A change on the new node shows at once, without a poll.
    QCOMPARE(cluster.server(to).command({"DEL", key}), QByteArray("1"));
    QCOMPARE(waitFor(
                 spy, [](qint64 pttl) { return pttl == -2; }, 2000),
        -2);
    observer.pollSoon();
    QTRY_VERIFY(!spy.isEmpty());
    QCOMPARE(seen().reportNode, toAddress);
}

QTEST_GUILESS_MAIN(tst_RedisObserver)
#include "tst_redisobserver.moc"
