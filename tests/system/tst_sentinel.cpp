// SPDX-License-Identifier: GPL-3.0-or-later
// The service behind Redis Sentinel (a master, its replica and three sentinels on free loopback
// ports, quorum 2): it serves through the master the sentinels name, says which one in /healthz,
// does the same over TLS (rediss+sentinel://) and follows a failover there, and when the master is
// SIGKILLed under load it keeps answering (BYPASS while no master answers, never a 500, never
// hanging), then serves hits again from the promoted replica.
//
// The service and the load's clients share this thread's event loop; a watcher on a thread of its
// own notes when the sentinels name the new master, and this thread waits with waitUntil(), never
// with a fixed sleep.
#include "cache/reportcache.h"
#include "redis/redisrouter.h"
#include "testlib/loadcheck.h"
#include "testlib/mixedload.h"
#include "testlib/testcertificates.h"
#include "testlib/testhttp.h"
#include "testlib/testredissentinel.h"
#include "testlib/testservice.h"
#include "testlib/testserviceoptions.h"
#include "testlib/testwait.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonObject>
#include <QLoggingCategory>
#include <QMap>
#include <QTest>

#include <atomic>
#include <memory>
#include <thread>

using namespace std::chrono;
using namespace std::chrono_literals;
using namespace Cachedash;
using namespace Cachedash::Test;

namespace {

constexpr milliseconds kDownAfter{1000};
constexpr milliseconds kFailoverTimeout{3000};
// Once the sentinels name the new master, the service has this long to serve hits again.
constexpr qint64 kRecoveryMs = 2000;

QByteArray address(const TestRedisServer &server)
{
    return "127.0.0.1:" + QByteArray::number(server.port());
}

} // namespace

class tst_Sentinel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();

    void servesThroughTheMaster();
    void wrongUrlsSayWhatToUse_data();
    void wrongUrlsSayWhatToUse();
    void overTlsThroughAFailover();
    // Kills the master: comes last.
    void masterKilledUnderLoad();

private:
    ServiceOptions options() const;

    TestRedisSentinel m_setup;
};

void tst_Sentinel::initTestCase()
{
    QLoggingCategory::setFilterRules(QStringLiteral("cachedash.access.info=false\n"
                                                    "cachedash.api.info=false\n"
                                                    "cachedash.cache.info=false\n"
                                                    "cachedash.cache.warning=false"));
    QElapsedTimer timer;
    timer.start();
    QVERIFY2(m_setup.start(kDownAfter, kFailoverTimeout), qPrintable(m_setup.errorString()));
    qInfo("sentinel setup up in %lld ms", timer.elapsed());
}

void tst_Sentinel::init()
{
    const quint16 master = m_setup.masterPort(0);
    for (int i = 0; i < 2; ++i) {
        if (m_setup.server(i).isRunning() && m_setup.server(i).port() == master)
            QCOMPARE(m_setup.server(i).command({"FLUSHALL"}), QByteArray("OK"));
    }
}

ServiceOptions tst_Sentinel::options() const
{
    ServiceOptions o = testServiceOptions(m_setup.server(0));
    const std::optional<RedisUrl> url = RedisUrl::parse(m_setup.url());
    if (url)
        o.redisUrl = *url;
    o.reportDelay = 250ms;
    return o;
}

void tst_Sentinel::servesThroughTheMaster()
{
    QVERIFY(RedisUrl::parse(m_setup.url()).has_value());
    TestService service;
    QVERIFY2(service.start(options()), qPrintable(service.errorString()));
    RedisRouter &redis = service->redis();
    QCOMPARE(redis.mode(), RedisRouter::Mode::Sentinel);
    const QByteArray master = address(m_setup.server(0));
    QCOMPARE(
        redis.describe(), QStringLiteral("sentinel, master cachedash at ") + QString::fromLatin1(master));
    QCOMPARE(redis.nodeFor("report:emea").toLatin1(), master);

    TestHttp http{service.baseUrl()};
    const HttpResult miss = http.get(QStringLiteral("/reports/emea"));
    QCOMPARE(miss.status, 200);
    QCOMPARE(miss.header("x-cache"), QByteArray("MISS"));
    QCOMPARE(miss.json().value(QLatin1String("cached")), QJsonValue(false));
    const HttpResult hit = http.get(QStringLiteral("/reports/emea"));
    QCOMPARE(hit.header("x-cache"), QByteArray("HIT"));
    QCOMPARE(hit.json().value(QLatin1String("cached")), QJsonValue(true));
    QCOMPARE(
        hit.json().value(QLatin1String("generated_at")), miss.json().value(QLatin1String("generated_at")));
    QCOMPARE(m_setup.server(0).command({"EXISTS", "report:emea"}), QByteArray("1"));

    // /healthz names the master.
    const HttpResult health = http.get(QStringLiteral("/healthz"));
    QCOMPARE(health.status, 200);
    const QJsonObject body = health.json();
    QCOMPARE(body.value(QLatin1String("status")).toString(), QStringLiteral("ok"));
    QVERIFY2(body.value(QLatin1String("mode")).toString().contains(QString::fromLatin1(master)),
        health.body.constData());
    const QJsonArray nodes = body.value(QLatin1String("nodes")).toArray();
    QCOMPARE(nodes.size(), 1);
    QCOMPARE(nodes.at(0).toObject().value(QLatin1String("address")).toString(), QString::fromLatin1(master));
    QCOMPARE(nodes.at(0).toObject().value(QLatin1String("role")).toString(), QStringLiteral("master"));
    QCOMPARE(redis.stats().failovers, 0u);
}

// A sentinel where a server was expected, a server where a sentinel was, a name the sentinels do
// not know: the service does not start, and the reason says what to use instead.
void tst_Sentinel::wrongUrlsSayWhatToUse_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("mentions");
    const QString sentinel = QStringLiteral("127.0.0.1:%1").arg(m_setup.sentinel(0).port());
    const QString server = QStringLiteral("127.0.0.1:%1").arg(m_setup.masterPort(0));
    QTest::newRow("redis:// to a sentinel") << QStringLiteral("redis://")
            + sentinel << QStringLiteral("is a Redis Sentinel, not a server: use redis+sentinel://");
    QTest::newRow("sentinel URL to a server")
        << QStringLiteral("redis+sentinel://%1/cachedash").arg(server)
        << QStringLiteral("not a sentinel (a Redis server? then use redis://");
    QTest::newRow("unknown master name") << QStringLiteral("redis+sentinel://%1/nope").arg(sentinel)
                                         << QStringLiteral("knows no master named \"nope\"");
}

void tst_Sentinel::wrongUrlsSayWhatToUse()
{
    QFETCH(QString, url);
    QFETCH(QString, mentions);
    ServiceOptions o = options();
    o.redisUrl = RedisUrl::parse(url).value();
    TestService service;
    QVERIFY(!service.start(o, 1500ms));
    QVERIFY2(service.errorString().contains(mentions), qPrintable(service.errorString()));
}

// rediss+sentinel://: TLS to the sentinels and to the master they name (its TLS port), and after a
// failover (SENTINEL FAILOVER: no wait for the master to be judged down) to the promoted replica.
void tst_Sentinel::overTlsThroughAFailover()
{
    QElapsedTimer timer;
    timer.start();
    TestCertificates certs;
    QVERIFY2(certs.create(), qPrintable(certs.errorString()));
    TestRedisSentinel setup(QByteArrayLiteral("cachedash"), &certs);
    QVERIFY2(setup.start(kDownAfter, kFailoverTimeout), qPrintable(setup.errorString()));
    const qint64 setupMs = timer.elapsed();
    QVERIFY2(setup.url().startsWith(QStringLiteral("rediss+sentinel://localhost:")), qPrintable(setup.url()));
    auto tlsAddress = [&setup](int server) -> QByteArray {
        return "127.0.0.1:" + QByteArray::number(setup.tlsPort(server));
    };
    QCOMPARE(setup.masterPort(0), setup.tlsPort(0));

    ServiceOptions o = options();
    o.redisUrl = RedisUrl::parse(setup.url()).value();
    o.redisTls.caCertFile = certs.caCert();
    o.rateLimits.limits = {{1'000'000, std::chrono::seconds(10)}}; // the recovery below is polled
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));
    QCOMPARE(service->redis().nodeFor("report:emea").toLatin1(), tlsAddress(0));
    TestHttp http{service.baseUrl()};
    const HttpResult miss = http.get(QStringLiteral("/reports/emea"));
    QCOMPARE(miss.status, 200);
    QCOMPARE(miss.json().value(QLatin1String("cached")), QJsonValue(false));
    QCOMPARE(
        http.get(QStringLiteral("/reports/emea")).json().value(QLatin1String("cached")), QJsonValue(true));
    QCOMPARE(setup.server(0).command({"EXISTS", "report:emea"}), QByteArray("1"));
    // Replicated over TLS: the promoted replica will have it.
    QVERIFY(waitUntil([&setup] { return setup.server(1).command({"EXISTS", "report:emea"}) == "1"; }, 3000));

    timer.restart();
    QCOMPARE(setup.sentinel(0).command({"SENTINEL", "FAILOVER", setup.masterName()}), QByteArray("OK"));
    HttpResult health;
    const bool recovered = waitUntil(
        [&] {
            health = http.get(QStringLiteral("/healthz"));
            return health.status == 200 && health.body.contains(tlsAddress(1));
        },
        15000);
    QVERIFY2(recovered, health.body.constData());
    qInfo("TLS sentinel setup up in %lld ms; /healthz on the new master %lld ms after SENTINEL FAILOVER",
        setupMs, qint64(timer.elapsed()));
    QVERIFY2(health.json().value(QLatin1String("transport")).toString().startsWith(QLatin1String("TLS")),
        health.body.constData());
    const HttpResult hit = http.get(QStringLiteral("/reports/emea"));
    QCOMPARE(hit.header("x-cache"), QByteArray("HIT"));
    QCOMPARE(hit.json().value(QLatin1String("cached")), QJsonValue(true));
    QCOMPARE(
        hit.json().value(QLatin1String("generated_at")), miss.json().value(QLatin1String("generated_at")));
    QCOMPARE(service->redis().nodeFor("report:emea").toLatin1(), tlsAddress(1));
    QVERIFY(service->redis().stats().failovers >= 1);
}

void tst_Sentinel::masterKilledUnderLoad()
{
    ServiceOptions o = options();
    o.reportDelay = 200ms;
    o.redisTimeout = 500ms;
    o.rateLimits.limits
        = {{1'000'000, std::chrono::seconds(10)}}; // permissive: the limiter runs, but refuses nobody
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    TestRedisServer &oldMaster = m_setup.server(0);
    TestRedisServer &newMaster = m_setup.server(1);
    QCOMPARE(service->redis().nodeFor("report:emea").toLatin1(), address(oldMaster));

    // The report is cached, and the replica has it.
    QCOMPARE(http.get(QStringLiteral("/reports/emea")).header("x-cache"), QByteArray("MISS"));
    QCOMPARE(http.get(QStringLiteral("/reports/emea")).header("x-cache"), QByteArray("HIT"));
    QVERIFY(waitUntil([&newMaster] { return newMaster.command({"EXISTS", "report:emea"}) == "1"; }, 3000));

    MixedLoad::Settings settings;
    settings.port = service->port();
    settings.clients = 6;
    settings.regions = {QStringLiteral("emea")};
    settings.refreshPerMille = 0;
    settings.healthEveryMs = 20;
    MixedLoad load(settings);
    load.start();
    QVERIFY(waitUntil([&load] { return load.everyLoopAnswered(); }, 5000));
    runEventsUntil(monotonicUs() + 300 * 1000);

    // A watcher on its own thread notes when the sentinels name the replica.
    struct Watch
    {
        std::atomic<bool> stop{false};
        std::atomic<qint64> switchedUs{-1};
    };
    auto watch = std::make_shared<Watch>();
    const TestRedisSentinel &setup = m_setup;
    const quint16 newPort = newMaster.port();
    std::thread watcher([watch, &setup, newPort] {
        while (!watch->stop && watch->switchedUs < 0) {
            if (setup.masterPort(0) == newPort)
                watch->switchedUs = monotonicUs();
            else
                std::this_thread::sleep_for(5ms);
        }
    });

    // Exchanges are recorded in the order sent: those from here on were sent after the kill.
    const size_t firstAfterKill = load.exchanges().size();
    const qint64 killUs = monotonicUs();
    oldMaster.kill();
    qint64 firstHitUs = -1;
    qint64 healthyUs = -1;
    auto scan = [&] {
        const std::vector<Exchange> &xs = load.exchanges();
        for (size_t i = firstAfterKill; i < xs.size(); ++i) {
            const Exchange &e = xs[i];
            if (!e.answered())
                continue;
            if (e.kind == RequestKind::Report && e.xCache == "HIT"
                && (firstHitUs < 0 || e.doneUs < firstHitUs))
                firstHitUs = e.doneUs;
            if (e.kind == RequestKind::Health && e.status == 200 && e.body.contains(address(newMaster))
                && (healthyUs < 0 || e.doneUs < healthyUs))
                healthyUs = e.doneUs;
        }
        return firstHitUs >= 0 && healthyUs >= 0;
    };
    const bool recovered = waitUntil(scan, kDownAfter.count() + kFailoverTimeout.count() + 10000);
    watch->stop = true;
    watcher.join();
    runEventsUntil(monotonicUs() + 300 * 1000);
    load.stop();
    QVERIFY(waitUntil([&load] { return load.drained(); }, 5000));
    scan();

    QMap<QByteArray, int> meanwhile;
    int healthDown = 0;
    for (size_t i = firstAfterKill; i < load.exchanges().size(); ++i) {
        const Exchange &e = load.exchanges()[i];
        if (e.kind == RequestKind::Report && (firstHitUs < 0 || !e.answered() || e.doneUs < firstHitUs))
            ++meanwhile[QByteArray::number(e.status) + ' ' + e.xCache];
        if (e.kind == RequestKind::Health && e.status == 503)
            ++healthDown;
    }
    QStringList meanwhileText;
    for (auto it = meanwhile.cbegin(); it != meanwhile.cend(); ++it)
        meanwhileText << QString::fromLatin1(it.key()) + QStringLiteral(": ") + QString::number(it.value());
    const RedisRouter::Stats stats = service->redis().stats();
    qInfo("killed the master %s; the sentinels named %s after %lld ms; hits again after %lld ms, /healthz ok "
          "on "
          "the new master after %lld ms (%d answers 503 meanwhile)",
        address(oldMaster).constData(), address(newMaster).constData(),
        watch->switchedUs < 0 ? -1 : (watch->switchedUs - killUs) / 1000,
        firstHitUs < 0 ? -1 : (firstHitUs - killUs) / 1000, healthyUs < 0 ? -1 : (healthyUs - killUs) / 1000,
        healthDown);
    qInfo().noquote() << "reports meanwhile:" << meanwhileText.join(QStringLiteral(", "));
    qInfo("router: %llu master resolutions, %llu failovers, %llu READONLY", stats.refreshes, stats.failovers,
        stats.readOnly);

    QVERIFY2(watch->switchedUs >= 0, "the sentinels did not name the replica");
    QVERIFY2(recovered, "no hit, or no healthy /healthz naming the new master, after the failover");
    QVERIFY2(firstHitUs - watch->switchedUs <= kRecoveryMs * 1000,
        qPrintable(QStringLiteral("hits came back %1 ms after the sentinels switched")
                       .arg((firstHitUs - watch->switchedUs) / 1000)));
    QVERIFY(stats.failovers >= 1);
    QCOMPARE(service->redis().nodeFor("report:emea").toLatin1(), address(newMaster));
    QVERIFY(service->redis().describe().contains(QString::fromLatin1(address(newMaster))));

    // Every request answered, within a Redis timeout and a computation (plus slack), never a 500.
    const Tally tally = tallyOf(load, false, (o.redisTimeout + o.reportDelay + 400ms).count());
    qInfo().noquote() << tally.sent << "requests, max latency" << tally.maxLatency() << "ms;"
                      << tally.outcomesText();
    checkEveryAnswer(tally, load);
}

QTEST_GUILESS_MAIN(tst_Sentinel)
#include "tst_sentinel.moc"
