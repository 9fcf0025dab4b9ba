// SPDX-License-Identifier: GPL-3.0-or-later
#include "app/redisobserver.h"
#include "service/service.h"
#include "testlib/testredisserver.h"

#include <QSignalSpy>
#include <QTest>

#include <qcoro/qcorotask.h>

using namespace std::chrono_literals;
using namespace Cachedash;
using Cachedash::Test::TestRedisServer;

class tst_RedisObserver : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void keyspaceNotificationsShowChangesAtOnce();
    void withoutConfigItPolls();

private:
    std::unique_ptr<Service> start(const TestRedisServer &redis);
    // The newest snapshot's PTTL once one satisfies `accept` within `ms`, or -99.
    static qint64 waitFor(QSignalSpy &spy, const std::function<bool(qint64)> &accept, int ms);
};

std::unique_ptr<Service> tst_RedisObserver::start(const TestRedisServer &redis)
{
    ServiceOptions o;
    o.redisUrl = RedisUrl::parse(redis.url()).value();
    o.redisUrlGiven = true;
    o.port = 0;
    auto service = std::make_unique<Service>(o);
    if (!QCoro::waitFor(service->start()))
        return nullptr;
    return service;
}

qint64 tst_RedisObserver::waitFor(QSignalSpy &spy, const std::function<bool(qint64)> &accept, int ms)
{
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < ms) {
        while (!spy.isEmpty()) {
            const auto snapshot = spy.takeFirst().at(0).value<DashboardSnapshot>();
            if (snapshot.redisAnswered && accept(snapshot.reportPttlMs))
                return snapshot.reportPttlMs;
        }
        QTest::qWait(10);
    }
    return -99;
}

void tst_RedisObserver::keyspaceNotificationsShowChangesAtOnce()
{
    TestRedisServer redis;
    QVERIFY2(redis.start(), qPrintable(redis.errorString()));
    auto service = start(redis);
    QVERIFY(service);
    RedisObserver observer(*service);
    observer.setPollInterval(60s); // from here on only a notification can bring news quickly
    observer.setRegion(QStringLiteral("emea"));
    QTRY_VERIFY(observer.notificationsActive());
    QVERIFY(redis.command({"CONFIG", "GET", "notify-keyspace-events"}).contains('K'));
    QSignalSpy spy(&observer, &RedisObserver::snapshotReady);
    QTest::qWait(50);
    spy.clear();

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
    // Other regions' keys do not wake the observer.
    spy.clear();
    redis.command({"SET", "report:apac", "{}", "EX", "30"});
    QTest::qWait(300);
    QVERIFY(spy.isEmpty());
}

void tst_RedisObserver::withoutConfigItPolls()
{
    TestRedisServer locked;
    QVERIFY2(locked.start({QStringLiteral("--rename-command"), QStringLiteral("CONFIG"), QString()}),
        qPrintable(locked.errorString()));
    auto service = start(locked);
    QVERIFY(service);
    RedisObserver observer(*service);
    observer.setPollInterval(200ms);
    observer.setRegion(QStringLiteral("emea"));
    QSignalSpy spy(&observer, &RedisObserver::snapshotReady);
    QTest::qWait(300);
    QVERIFY(!observer.notificationsActive());
    QCOMPARE(locked.command({"SET", "report:emea", "{}", "EX", "30"}), QByteArray("OK"));
    QVERIFY(waitFor(
                spy, [](qint64 pttl) { return pttl > 28000; }, 1500)
        > 0);
}

QTEST_GUILESS_MAIN(tst_RedisObserver)
#include "tst_redisobserver.moc"
