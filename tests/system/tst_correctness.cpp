// SPDX-License-Identifier: GPL-3.0-or-later
// The classic holes of cache-aside, each closed and proven: stampedes (in one process and across
// two), corrupt entries, a refresh during a fill, Redis outages, stale-while-revalidate, TTL jitter.
// "Two processes" are two Service instances with their own Redis connections and flights, sharing
// one redis-server: everything they share goes through Redis, as between two processes.
#include "api/reportsapi.h"
#include "cache/reportcache.h"
#include "cache/reportsource.h"
#include "redis/redisrouter.h"
#include "testlib/rawconnection.h"
#include "testlib/testhttp.h"
#include "testlib/testredisserver.h"
#include "testlib/testservice.h"
#include "testlib/testserviceoptions.h"
#include "testlib/testwait.h"

#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSet>
#include <QTest>

#include <qcoro/qcorotask.h>

#include <algorithm>
#include <vector>

using namespace std::chrono_literals;
using namespace Cachedash;
using Cachedash::Test::HttpResult;
using Cachedash::Test::RawConnection;
using Cachedash::Test::TestHttp;
using Cachedash::Test::TestRedisServer;
using Cachedash::Test::TestService;

namespace {
QByteArray clientIp(int n)
{
    return "198.18." + QByteArray::number(n / 250) + '.' + QByteArray::number(n % 250 + 1);
}

QByteArray closingGet(const QString &path, int client)
{
    return TestHttp::getRequest(path, {{"X-Forwarded-For", clientIp(client)}, {"Connection", "close"}});
}
} // namespace

class tst_Correctness : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();

    void stampedeInOneProcess();
    void stampedeAcrossTwoProcesses();
    void waitersTakeOverFromADeadLeaseHolder();
    void corruptEntriesAreMisses_data();
    void corruptEntriesAreMisses();
    void refreshDuringFillWins();
    void pausedRedisBypassesWithinTheTimeout();
    void limiterFailsClosedWhenAsked();
    void recoversAfterRedisRestart();
    void staleWhileRevalidate();
    void ttlJitterSpreadsExpiries();
    void readsOfOneTurnShareOneLookup();

private:
    ServiceOptions options() const;

    TestRedisServer m_redis;
};

void tst_Correctness::initTestCase()
{
    QVERIFY2(m_redis.start(), qPrintable(m_redis.errorString()));
}

void tst_Correctness::init()
{
    if (!m_redis.isRunning())
        QVERIFY2(m_redis.restart(), qPrintable(m_redis.errorString()));
    m_redis.command({"CLIENT", "UNPAUSE"});
    QCOMPARE(m_redis.command({"FLUSHALL"}), QByteArray("OK"));
}

ServiceOptions tst_Correctness::options() const
{
    return Cachedash::Test::testServiceOptions(m_redis);
}

void tst_Correctness::stampedeInOneProcess()
{
    ServiceOptions o = options();
    o.reportDelay = 1500ms;
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    QList<QByteArray> requests;
    for (int i = 0; i < 20; ++i)
        requests << closingGet(QStringLiteral("/reports/stampede"), i);
    QCOMPARE(m_redis.command({"CONFIG", "RESETSTAT"}), QByteArray("OK"));
    QElapsedTimer timer;
    timer.start();
    const QList<HttpResult> answers = http.concurrentRaw(requests);
    const qint64 took = timer.elapsed();
    QSet<QString> reports;
    for (const HttpResult &a : answers) {
        QCOMPARE(a.status, 200);
        QCOMPARE(a.header("x-cache"), QByteArray("MISS"));
        reports.insert(a.json().value(QLatin1String("generated_at")).toString());
    }
    QCOMPARE(reports.size(), 1); // one report for all twenty
    QCOMPARE(service->source().computations(), 1u);
    QCOMPARE(service->cache().counters().writes, 1u);
    QCOMPARE(service->cache().counters().shared, 19u);
    // Redis saw one lease taken and one report written (SETs inside scripts count too): the other
    // nineteen waited in this process without asking Redis for a lease.
    QCOMPARE(m_redis.commandCalls("set"), 2);
    qInfo("20 concurrent cold GETs answered in %lld ms", took);
    QVERIFY2(took < 2500, qPrintable(QString::number(took))); // loose: the figure is in the benchmark
}

void tst_Correctness::stampedeAcrossTwoProcesses()
{
    TestService a;
    TestService b;
    QVERIFY2(a.start(options()), qPrintable(a.errorString()));
    QVERIFY2(b.start(options()), qPrintable(b.errorString()));
    QList<QByteArray> requests;
    for (int i = 0; i < 20; ++i)
        requests << closingGet(QStringLiteral("/reports/shared"), i);
    QCOMPARE(m_redis.command({"CONFIG", "RESETSTAT"}), QByteArray("OK"));
    // Interleave the two instances' connections so that both see their misses at once.
    std::vector<RawConnection> connections;
    for (int i = 0; i < 40; ++i) {
        connections.emplace_back((i % 2 ? a : b)->port());
        connections.back().write(requests[i / 2]);
    }
    const auto complete = [&connections] {
        return std::count_if(
            connections.begin(), connections.end(), [](RawConnection &c) { return !c.answers().isEmpty(); });
    };
    Cachedash::Test::waitUntil([&complete] { return complete() == 40; }, 10000);
    QCOMPARE(complete(), 40);
    QSet<QString> reports;
    for (RawConnection &connection : connections) {
        const HttpResult r = connection.answers().first();
        QCOMPARE(r.status, 200);
        reports.insert(r.json().value(QLatin1String("generated_at")).toString());
    }
    QCOMPARE(reports.size(), 1);
    QCOMPARE(a->source().computations() + b->source().computations(), 1u);
    QCOMPARE(a->cache().counters().writes + b->cache().counters().writes, 1u);
    // One lease taken, one refused (the other instance's leader), one report written.
    QCOMPARE(m_redis.commandCalls("set"), 3);
}

void tst_Correctness::waitersTakeOverFromADeadLeaseHolder()
{
    TestService service;
    QVERIFY2(service.start(options()), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    // A lease left behind by a process that died mid-computation.
    QCOMPARE(m_redis.command({"SET", "{report:orphan}:lease", "dead-token", "PX", "600"}), QByteArray("OK"));
    QElapsedTimer timer;
    timer.start();
    const HttpResult r = http.get(QStringLiteral("/reports/orphan"), {{"X-Forwarded-For", clientIp(1)}});
    QCOMPARE(r.status, 200);
    QVERIFY2(timer.elapsed() >= 600, qPrintable(QString::number(timer.elapsed())));
    QCOMPARE(service->source().computations(), 1u);
    QCOMPARE(m_redis.command({"EXISTS", "report:orphan"}), QByteArray("1"));
    QCOMPARE(m_redis.command({"EXISTS", "{report:orphan}:lease"}), QByteArray("0"));
}

void tst_Correctness::corruptEntriesAreMisses_data()
{
    QTest::addColumn<QByteArrayList>("write");
    QTest::newRow("not json") << QByteArrayList{"SET", "report:bad", "garbage{"};
    QTest::newRow("missing fields") << QByteArrayList{"SET", "report:bad", "{\"region\":\"bad\"}"};
    QTest::newRow("mistyped sales") << QByteArrayList{"SET", "report:bad",
        "{\"region\":\"bad\",\"total_sales\":\"lots\",\"generated_at\":\"2026-01-01T00:00:00+00:00\"}"};
    QTest::newRow("another region") << QByteArrayList{"SET", "report:bad",
        "{\"region\":\"emea\",\"total_sales\":4938.24,\"generated_at\":\"2026-01-01T00:00:00+00:00\"}"};
    QTest::newRow("a hash") << QByteArrayList{"HSET", "report:bad", "region", "bad"};
}

void tst_Correctness::corruptEntriesAreMisses()
{
    QFETCH(QByteArrayList, write);
    TestService service;
    QVERIFY2(service.start(options()), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    QVERIFY(!m_redis.command(write).startsWith("(error)"));
    QTest::ignoreMessage(
        QtWarningMsg, QRegularExpression(QStringLiteral("ignoring the invalid entry under report:bad")));
    const HttpResult r = http.get(QStringLiteral("/reports/bad"), {{"X-Forwarded-For", clientIp(2)}});
    QCOMPARE(r.status, 200);
    QCOMPARE(r.header("x-cache"), QByteArray("MISS"));
    QCOMPARE(r.json().value(QLatin1String("region")).toString(), QStringLiteral("bad"));
    QCOMPARE(service->cache().counters().corrupt, 1u);
    // Overwritten with a valid report: the next read is a hit.
    const QJsonObject stored = QJsonDocument::fromJson(m_redis.command({"GET", "report:bad"})).object();
    QCOMPARE(stored.value(QLatin1String("region")).toString(), QStringLiteral("bad"));
    QCOMPARE(http.get(QStringLiteral("/reports/bad"), {{"X-Forwarded-For", clientIp(2)}}).header("x-cache"),
        QByteArray("HIT"));
}

void tst_Correctness::refreshDuringFillWins()
{
    ServiceOptions o = options();
    o.reportDelay = 800ms;
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    RawConnection reader(service->port());
    reader.write(closingGet(QStringLiteral("/reports/race"), 3));
    QTRY_COMPARE(service->source().inFlight(), 1);
    const HttpResult refresh = http.post(QStringLiteral("/reports/race/refresh"));
    QCOMPARE(refresh.status, 200);
    QCOMPARE(refresh.body, QByteArray("{\"invalidated\":false,\"fill_cancelled\":true}"));
    // The fill finishes after the refresh: its reader gets the report, but it is not stored.
    QCOMPARE(reader.waitForAnswers(1, 3000).size(), 1);
    QCOMPARE(reader.answers().first().status, 200);
    QCOMPARE(m_redis.command({"EXISTS", "report:race"}), QByteArray("0"));
    QCOMPARE(service->cache().counters().writesDiscarded, 1u);
    QCOMPARE(service->cache().counters().writes, 0u);
    // And the next read computes a fresh report.
    QCOMPARE(http.get(QStringLiteral("/reports/race"), {{"X-Forwarded-For", clientIp(4)}}).header("x-cache"),
        QByteArray("MISS"));
    QCOMPARE(m_redis.command({"EXISTS", "report:race"}), QByteArray("1"));
}

void tst_Correctness::pausedRedisBypassesWithinTheTimeout()
{
    ServiceOptions o = options();
    o.redisTimeout = 300ms;
    o.reportDelay = 300ms;
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    QCOMPARE(m_redis.command({"CLIENT", "PAUSE", "2000", "ALL"}), QByteArray("OK"));
    QElapsedTimer timer;
    timer.start();
    const HttpResult report = http.get(QStringLiteral("/reports/paused"), {{"X-Forwarded-For", clientIp(5)}});
    const qint64 took = timer.elapsed();
    QCOMPARE(report.status, 200);
    QCOMPARE(report.header("x-cache"), QByteArray("BYPASS"));
    QCOMPARE(report.json().value(QLatin1String("cached")).toBool(true), false);
    // The Redis timeout (300 ms) plus the computation (300 ms), and some slack for a loaded machine.
    QVERIFY2(took >= 550 && took < 1200, qPrintable(QString::number(took)));
    const HttpResult refresh = http.post(QStringLiteral("/reports/paused/refresh"));
    QCOMPARE(refresh.status, 503);
    QCOMPARE(http.get(QStringLiteral("/healthz")).status, 503);
    m_redis.command({"CLIENT", "UNPAUSE"});
    QTRY_COMPARE_WITH_TIMEOUT(http.get(QStringLiteral("/healthz")).status, 200, 3000);
}

void tst_Correctness::limiterFailsClosedWhenAsked()
{
    ServiceOptions o = options();
    o.rateLimitOnError = RateLimiter::OnError::Deny;
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    m_redis.stop();
    const HttpResult r = http.get(QStringLiteral("/reports/closed"), {{"X-Forwarded-For", clientIp(6)}});
    QCOMPARE(r.status, 503);
    QVERIFY(r.header("retry-after").toInt() >= 1);
    QVERIFY(r.json()
                .value(QLatin1String("detail"))
                .toString()
                .contains(QStringLiteral("rate limiter is unavailable")));
    // Fail-open, the default, is in tst_apiserver (redisDownBypassesTheCache).
}

void tst_Correctness::recoversAfterRedisRestart()
{
    TestService service;
    QVERIFY2(service.start(options()), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    const QList<std::pair<QByteArray, QByteArray>> me{{"X-Forwarded-For", clientIp(7)}};
    QCOMPARE(http.get(QStringLiteral("/reports/phoenix"), me).status, 200);
    m_redis.kill();
    QCOMPARE(http.get(QStringLiteral("/reports/phoenix"), me).header("x-cache"), QByteArray("BYPASS"));
    QVERIFY2(m_redis.restart(), qPrintable(m_redis.errorString())); // a new server: no keys, no scripts
    QElapsedTimer timer;
    timer.start();
    QTRY_COMPARE_WITH_TIMEOUT(http.get(QStringLiteral("/healthz")).status, 200, 2500);
    qInfo("recovered %lld ms after Redis came back", timer.elapsed());
    const HttpResult r = http.get(QStringLiteral("/reports/phoenix"), me);
    QCOMPARE(r.status, 200);
    QCOMPARE(r.header("x-cache"), QByteArray("MISS"));
    // The limiter counts again: its script was reloaded into the new server.
    QCOMPARE(r.header("ratelimit-remaining"), QByteArray("4"));
    QCOMPARE(m_redis.command({"ZCARD", "rate:sliding:" + clientIp(7)}), QByteArray("1"));
}

void tst_Correctness::staleWhileRevalidate()
{
    ServiceOptions o = options();
    o.cacheTtl = 1s;
    o.staleWhileRevalidate = 5s;
    o.reportDelay = 1000ms;
    o.rateLimits.limits = {{100, std::chrono::seconds(10)}};
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    const HttpResult first = http.get(QStringLiteral("/reports/swr"));
    QCOMPARE(first.header("x-cache"), QByteArray("MISS"));
    const QString firstAt = first.json().value(QLatin1String("generated_at")).toString();
    // The cache calls a report stale once less than the grace is left of its time in Redis.
    QTRY_VERIFY_WITH_TIMEOUT(m_redis.command({"PTTL", "report:swr"}).toLongLong() <= 5000, 3000);
    // Expired, but inside the grace: served at once, cached, while one recomputation runs.
    QList<QByteArray> requests;
    for (int i = 0; i < 5; ++i)
        requests << closingGet(QStringLiteral("/reports/swr"), 10 + i);
    QElapsedTimer timer;
    timer.start();
    const QList<HttpResult> stale = http.concurrentRaw(requests);
    // Served at once: well before the 1 s recomputation could have finished.
    QVERIFY2(timer.elapsed() < 600, qPrintable(QString::number(timer.elapsed())));
    for (const HttpResult &r : stale) {
        QCOMPARE(r.header("x-cache"), QByteArray("STALE"));
        QCOMPARE(r.json().value(QLatin1String("cached")).toBool(), true);
        QCOMPARE(r.json().value(QLatin1String("generated_at")).toString(), firstAt);
    }
    QTRY_COMPARE(service->cache().counters().writes, 2u);
    QCOMPARE(service->source().computations(), 2u);
    QCOMPARE(service->cache().counters().revalidations, 1u);
    const HttpResult fresh = http.get(QStringLiteral("/reports/swr"));
    QCOMPARE(fresh.header("x-cache"), QByteArray("HIT"));
    QVERIFY(fresh.json().value(QLatin1String("generated_at")).toString() != firstAt);
}

void tst_Correctness::ttlJitterSpreadsExpiries()
{
    ServiceOptions o = options();
    o.cacheTtl = 30s;
    o.cacheTtlJitter = 10s;
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    QList<QByteArray> requests;
    for (int i = 0; i < 20; ++i)
        requests << closingGet(QStringLiteral("/reports/jitter%1").arg(i), 20 + i);
    for (const HttpResult &r : http.concurrentRaw(requests))
        QCOMPARE(r.status, 200);
    QSet<int> ttls;
    for (int i = 0; i < 20; ++i) {
        const int ttl = m_redis.command({"TTL", "report:jitter" + QByteArray::number(i)}).toInt();
        QVERIFY2(ttl >= 29 && ttl <= 40, qPrintable(QString::number(ttl)));
        ttls.insert(ttl);
    }
    // Twenty reports written together: without jitter they would all say 30.
    QVERIFY2(ttls.size() >= 4, qPrintable(QString::number(ttls.size())));
}

void tst_Correctness::readsOfOneTurnShareOneLookup()
{
    TestService service;
    QVERIFY2(service.start(options()), qPrintable(service.errorString()));
    ReportCache &cache = service->cache();
    TestHttp http{service.baseUrl()};
    QCOMPARE(http.get(QStringLiteral("/reports/north")).status, 200);
    QCOMPARE(http.get(QStringLiteral("/reports/south")).status, 200);
    QCOMPARE(m_redis.command({"CONFIG", "RESETSTAT"}), QByteArray("OK"));

    // Asked within one turn: one GET and one PTTL per region, whatever the number of readers.
    std::vector<QCoro::Task<CacheRead>> reads;
    for (int i = 0; i < 12; ++i)
        reads.push_back(cache.read(i % 3 ? QStringLiteral("north") : QStringLiteral("south")));
    QByteArrayList fingerprints;
    for (QCoro::Task<CacheRead> &read : reads) {
        const CacheRead r = QCoro::waitFor(read);
        QCOMPARE(r.outcome, CacheRead::Outcome::Hit);
        QVERIFY(r.freshFor > 0ms);
        fingerprints << r.fingerprint;
    }
    QCOMPARE(m_redis.commandCalls("get"), 2);
    QCOMPARE(m_redis.commandCalls("pttl"), 2);
    QCOMPARE(fingerprints.at(1), fingerprints.at(2));
    QVERIFY(fingerprints.at(0) != fingerprints.at(1));

    // A read asked once the lookup has left does not take its answer: it might predate the
    // request. Here the lookup is held up in Redis while the second read is asked.
    m_redis.command({"CLIENT", "PAUSE", "300", "ALL"});
    const quint64 generation = service->redis().clientStats().writeEvents;
    QCoro::Task<CacheRead> first = cache.read(QStringLiteral("north"));
    QVERIFY(Cachedash::Test::waitUntil(
        [&service, generation] { return service->redis().clientStats().writeEvents != generation; }, 250));
    QCoro::Task<CacheRead> second = cache.read(QStringLiteral("north"));
    QCOMPARE(QCoro::waitFor(first).outcome, CacheRead::Outcome::Hit);
    QCOMPARE(QCoro::waitFor(second).outcome, CacheRead::Outcome::Hit);
    QCOMPARE(m_redis.commandCalls("get"), 4);
}

QTEST_GUILESS_MAIN(tst_Correctness)
#include "tst_correctness.moc"
