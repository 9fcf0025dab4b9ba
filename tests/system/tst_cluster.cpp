// SPDX-License-Identifier: GPL-3.0-or-later
// The service's contract over a real Redis Cluster (3 primaries, 3 replicas, on free loopback
// ports): cache-aside and the limiter with keys spread over the primaries, stampedes and a refresh
// during a fill, three service instances on one cluster, a live resharding of a hot report's slot
// and of a client's limiter slot under load, and the SIGKILL of a primary while requests flow.
//
// One cluster serves every test; the tests that change it come last (the resharding moves two
// slots, the failover kills a primary). `cluster-require-full-coverage no` on every node keeps the
// slots of the live primaries served while one is down, as in a production cluster that prefers
// partial service.
//
// The service and the load's clients share this thread's event loop. What blocks (moving slots
// with redis-cli style commands, watching for a replica's promotion) runs on a thread of its own,
// and this thread waits with waitUntil(), which keeps the loop running, never with a fixed sleep.
#include "cache/reportcache.h"
#include "cache/reportsource.h"
#include "ratelimit/ratelimiter.h"
#include "ratelimit/ratelimits.h"
#include "redis/keyslot.h"
#include "redis/redisrouter.h"
#include "testlib/loadcheck.h"
#include "testlib/mixedload.h"
#include "testlib/rawconnection.h"
#include "testlib/testhttp.h"
#include "testlib/testrediscluster.h"
#include "testlib/testservice.h"
#include "testlib/testserviceoptions.h"
#include "testlib/testwait.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>
#include <QMap>
#include <QRegularExpression>
#include <QSet>
#include <QTest>

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

using namespace std::chrono;
using namespace std::chrono_literals;
using namespace Cachedash;
using namespace Cachedash::Test;

namespace {

constexpr milliseconds kNodeTimeout{1000};
// A failover is the node timeout, the FAIL agreement and the replica's election (0.5-1 s of
// delay, then the vote); the service then has this long to serve hits again.
constexpr qint64 kRecoveryMs = 2000;

QByteArray clientIp(int n)
{
    return "198.19." + QByteArray::number(n / 250) + '.' + QByteArray::number(n % 250 + 1);
}

QByteArray closingGet(const QString &path, const QByteArray &client)
{
    return TestHttp::getRequest(path, {{"X-Forwarded-For", client}, {"Connection", "close"}});
}

QByteArray address(const TestRedisServer &server)
{
    return "127.0.0.1:" + QByteArray::number(server.port());
}

// The value of one sample of the Prometheus text, or -1 when it is absent.
double metric(const QByteArray &text, const QByteArray &sample)
{
    for (const QByteArray &line : text.split('\n')) {
        if (line.startsWith(QByteArray(sample + ' ')))
            return line.mid(sample.size() + 1).toDouble();
    }
    return -1;
}

QString statsText(const RedisRouter::Stats &s)
{
    return QStringLiteral("moved %1, ask %2, tryagain %3, readonly %4, map refreshes %5, failovers %6")
        .arg(s.moved)
        .arg(s.ask)
        .arg(s.tryAgain)
        .arg(s.readOnly)
        .arg(s.refreshes)
        .arg(s.failovers);
}

// Moves `slot` from primary `from` to primary `to` the way `redis-cli --cluster reshard` does:
// IMPORTING on the target, MIGRATING on the source, MIGRATE of every key the source holds, then
// SETSLOT NODE on the target, the source and every other primary. It stays a while in each of the
// two intermediate states (`beforeMigrate`: the source serves the keys it has, new keys go to the
// target with ASK; `afterMigrate`: every key is on the target, reached with ASK), so that the load
// meets them. Blocks: runs on a thread of its own. Returns what went wrong, or nothing.
QString moveSlot(const TestRedisCluster &cluster, int slot, int from, int to, const QList<int> &primaries,
    milliseconds beforeMigrate, milliseconds afterMigrate, int *keysMoved)
{
    const QByteArray s = QByteArray::number(slot);
    TestRedisServer &source = cluster.server(from);
    TestRedisServer &target = cluster.server(to);
    const QByteArray &sourceId = cluster.node(from).id;
    const QByteArray &targetId = cluster.node(to).id;
    auto expectOk = [](const QByteArray &reply, const char *step) {
        return reply == "OK" ? QString()
                             : QStringLiteral("%1: %2").arg(QLatin1String(step), QString::fromUtf8(reply));
    };
    QString error = expectOk(target.command({"CLUSTER", "SETSLOT", s, "IMPORTING", sourceId}), "IMPORTING");
    if (error.isEmpty())
        error = expectOk(source.command({"CLUSTER", "SETSLOT", s, "MIGRATING", targetId}), "MIGRATING");
    if (!error.isEmpty())
        return error;
    std::this_thread::sleep_for(beforeMigrate);
    for (int round = 0; round < 100; ++round) {
        const QByteArray listed = source.command({"CLUSTER", "GETKEYSINSLOT", s, "100"});
        if (listed.startsWith("(error)") || listed.startsWith("(failure)"))
            return QStringLiteral("GETKEYSINSLOT: ") + QString::fromUtf8(listed);
        if (listed.isEmpty())
            break;
        const QByteArrayList keys = listed.split('\n');
        QByteArrayList migrate{
            "MIGRATE", "127.0.0.1", QByteArray::number(target.port()), "", "0", "5000", "KEYS"};
        migrate += keys;
        const QByteArray moved = source.command(migrate);
        // NOKEY: the keys expired or were deleted since they were listed.
        if (moved != "OK" && moved != "NOKEY")
            return QStringLiteral("MIGRATE: ") + QString::fromUtf8(moved);
        if (moved == "OK")
            *keysMoved += int(keys.size());
    }
    std::this_thread::sleep_for(afterMigrate);
    QList<int> order{to, from};
    for (int p : primaries) {
        if (!order.contains(p))
            order << p;
    }
    for (int p : std::as_const(order)) {
        error = expectOk(
            cluster.server(p).command({"CLUSTER", "SETSLOT", s, "NODE", targetId}), "SETSLOT NODE");
        if (!error.isEmpty())
            return QStringLiteral("node %1: %2").arg(p).arg(error);
    }
    return {};
}

// The limiter's promise, checked from the clients' side: one request at a time per client, so a
// client's admissions are in the order Redis made them; any `limit` + 1 of them in a row must span
// at least the window on Redis's clock. Redis decided each between its sending and its answer, so
// the answer to admission i + limit came at least window - margin after admission i was sent.
struct LimitCheck
{
    int clients = 0;
    int admitted = 0;
    int limited = 0;
    qint64 tightestMs = -1; // the shortest span of limit + 1 admissions in a row
    int violations = 0;
    QStringList examples;
};

LimitCheck checkLimit(const std::vector<Exchange> &exchanges, int limit, milliseconds window)
{
    constexpr qint64 kMarginMs = 3; // ms truncation of Redis's clock, and the wall/monotonic slew
    QMap<QByteArray, std::vector<const Exchange *>> byClient;
    LimitCheck result;
    for (const Exchange &e : exchanges) {
        if (e.kind != RequestKind::Report || !e.answered())
            continue;
        if (e.status == 429)
            ++result.limited;
        if (e.status != 200)
            continue;
        ++result.admitted;
        byClient[e.client].push_back(&e);
    }
    result.clients = int(byClient.size());
    for (auto it = byClient.cbegin(); it != byClient.cend(); ++it) {
        const std::vector<const Exchange *> &admitted = it.value();
        for (size_t i = 0; i + size_t(limit) < admitted.size(); ++i) {
            const qint64 spanMs = (admitted[i + size_t(limit)]->doneUs - admitted[i]->sentUs) / 1000;
            if (result.tightestMs < 0 || spanMs < result.tightestMs)
                result.tightestMs = spanMs;
            if (spanMs >= window.count() - kMarginMs)
                continue;
            if (++result.violations <= 5)
                result.examples << QStringLiteral("%1: %2 admissions within %3 ms")
                                       .arg(QString::fromLatin1(it.key()))
                                       .arg(limit + 1)
                                       .arg(spanMs);
        }
    }
    return result;
}

} // namespace

class tst_Cluster : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();

    void contractOverACluster();
    void regionsOnEveryPrimary();
    void limiterAdmitsExactlyTheLimit_data();
    void limiterAdmitsExactlyTheLimit();
    void stampedeComputesOnce();
    void refreshDuringFillWins();
    void threeInstancesShareOneCluster();
    void databaseOnAClusterUrl();
    // These two change the cluster: they come last.
    void liveReshardingUnderLoad();
    void failoverOfAHotPrimary();

private:
    ServiceOptions options() const;
    QList<int> primaries() const;
    int anyLiveNode() const;
    // The node index of the primary that holds `key` now.
    int ownerOf(const QByteArray &key) const;
    // A region named `prefix` and a number whose report key lives on primary `node`.
    QString regionOn(int node, const QString &prefix) const;

    TestRedisCluster m_cluster;
};

void tst_Cluster::initTestCase()
{
    // A load makes the cache and the API log thousands of lines; the router and the limiter still
    // say when they lose and regain a node.
    QLoggingCategory::setFilterRules(QStringLiteral("cachedash.access.info=false\n"
                                                    "cachedash.api.info=false\n"
                                                    "cachedash.cache.info=false\n"
                                                    "cachedash.cache.warning=false"));
    QElapsedTimer timer;
    timer.start();
    QVERIFY2(m_cluster.start(3, 1, kNodeTimeout), qPrintable(m_cluster.errorString()));
    for (int i = 0; i < m_cluster.size(); ++i)
        QCOMPARE(m_cluster.server(i).command({"CONFIG", "SET", "cluster-require-full-coverage", "no"}),
            QByteArray("OK"));
    qInfo("cluster of %d nodes up in %lld ms", m_cluster.size(), timer.elapsed());
}

void tst_Cluster::init()
{
    // Every primary forgets its keys (and its replica with it): each test starts cold.
    for (int p : primaries())
        QCOMPARE(m_cluster.server(p).command({"FLUSHALL"}), QByteArray("OK"));
}

ServiceOptions tst_Cluster::options() const
{
    ServiceOptions o = testServiceOptions(m_cluster.server(anyLiveNode()));
    o.reportDelay = 250ms;
    return o;
}

QList<int> tst_Cluster::primaries() const
{
    QList<int> out;
    for (int i = 0; i < m_cluster.size(); ++i) {
        if (m_cluster.server(i).isRunning() && m_cluster.server(i).info("replication", "role") == "master")
            out << i;
    }
    return out;
}

int tst_Cluster::anyLiveNode() const
{
    for (int i = 0; i < m_cluster.size(); ++i) {
        if (m_cluster.server(i).isRunning())
            return i;
    }
    return 0;
}

int tst_Cluster::ownerOf(const QByteArray &key) const
{
    return m_cluster.primaryFor(keySlot(key), anyLiveNode());
}

QString tst_Cluster::regionOn(int node, const QString &prefix) const
{
    for (int i = 0; i < 1000; ++i) {
        const QString region = prefix + QString::number(i);
        if (ownerOf(ReportCache::keyFor(region)) == node)
            return region;
    }
    return {};
}

void tst_Cluster::contractOverACluster()
{
    TestService service;
    QVERIFY2(service.start(options()), qPrintable(service.errorString()));
    QCOMPARE(service->redis().mode(), RedisRouter::Mode::Cluster);
    QCOMPARE(service->redis().describe(), QStringLiteral("cluster, 3 primaries"));
    TestHttp http{service.baseUrl()};
    const QByteArray key = "report:emea";
    const int owner = ownerOf(key);
    QVERIFY(owner >= 0 && owner < 3);
    QCOMPARE(service->redis().nodeFor(key).toLatin1(), address(m_cluster.server(owner)));
    const QList<std::pair<QByteArray, QByteArray>> me{{"X-Forwarded-For", clientIp(1)}};

    const HttpResult miss = http.get(QStringLiteral("/reports/emea"), me);
    QCOMPARE(miss.status, 200);
    QCOMPARE(miss.header("x-cache"), QByteArray("MISS"));
    QCOMPARE(miss.json().value(QLatin1String("cached")), QJsonValue(false));
    QCOMPARE(miss.json().value(QLatin1String("region")).toString(), QStringLiteral("emea"));
    const HttpResult hit = http.get(QStringLiteral("/reports/emea"), me);
    QCOMPARE(hit.status, 200);
    QCOMPARE(hit.header("x-cache"), QByteArray("HIT"));
    QCOMPARE(hit.json().value(QLatin1String("cached")), QJsonValue(true));
    QCOMPARE(
        hit.json().value(QLatin1String("generated_at")), miss.json().value(QLatin1String("generated_at")));

    // The stored copy is on the primary that owns the slot, as the miss served it, for ~30 s.
    TestRedisServer &node = m_cluster.server(owner);
    const QJsonObject stored = QJsonDocument::fromJson(node.command({"GET", key})).object();
    QCOMPARE(stored, miss.json());
    const int ttl = node.command({"TTL", key}).toInt();
    QVERIFY2(ttl >= 29 && ttl <= 30, qPrintable(QString::number(ttl)));
    // The other primaries do not have it: they redirect.
    for (int p : primaries()) {
        if (p != owner)
            QVERIFY(m_cluster.server(p).command({"GET", key}).startsWith("(error) MOVED "));
    }

    const HttpResult refresh = http.post(QStringLiteral("/reports/emea/refresh"));
    QCOMPARE(refresh.status, 200);
    QCOMPARE(refresh.body, QByteArray("{\"invalidated\":true}"));
    QCOMPARE(node.command({"EXISTS", key}), QByteArray("0"));
    const HttpResult again = http.get(QStringLiteral("/reports/emea"), me);
    QCOMPARE(again.header("x-cache"), QByteArray("MISS"));
    QVERIFY(again.json().value(QLatin1String("generated_at"))
        != miss.json().value(QLatin1String("generated_at")));
    QCOMPARE(service->redis().stats().moved, 0u); // the map was right from the start
}

void tst_Cluster::regionsOnEveryPrimary()
{
    TestService service;
    QVERIFY2(service.start(options()), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    const QList<int> nodes = primaries();
    QCOMPARE(nodes.size(), 3);
    QStringList regions;
    for (int p : nodes) {
        const QString region = regionOn(p, QStringLiteral("region"));
        QVERIFY2(!region.isEmpty(), qPrintable(QStringLiteral("no region found on node %1").arg(p)));
        regions << region;
    }
    qInfo().noquote() << "regions on the three primaries:" << regions.join(QStringLiteral(", "));
    for (qsizetype i = 0; i < regions.size(); ++i) {
        const QString path = QStringLiteral("/reports/") + regions[i];
        const QList<std::pair<QByteArray, QByteArray>> me{{"X-Forwarded-For", clientIp(10 + int(i))}};
        const HttpResult miss = http.get(path, me);
        QCOMPARE(miss.status, 200);
        QCOMPARE(miss.header("x-cache"), QByteArray("MISS"));
        const HttpResult hit = http.get(path, me);
        QCOMPARE(hit.header("x-cache"), QByteArray("HIT"));
        QCOMPARE(hit.json().value(QLatin1String("cached")), QJsonValue(true));
        const QByteArray key = ReportCache::keyFor(regions[i]);
        QCOMPARE(m_cluster.server(nodes[i]).command({"EXISTS", key}), QByteArray("1"));
        QCOMPARE(service->redis().nodeFor(key).toLatin1(), address(m_cluster.server(nodes[i])));
    }
    QCOMPARE(service->source().computations(), 3u);
    QCOMPARE(service->cache().counters().writes, 3u);
}

void tst_Cluster::limiterAdmitsExactlyTheLimit_data()
{
    QTest::addColumn<int>("algorithm");
    QTest::addColumn<QList<RateLimit>>("limits");
    QTest::addColumn<QByteArrayList>("keys"); // the client's keys, %1 for its address
    QTest::newRow("sliding-log 5/10s")
        << int(RateAlgorithm::SlidingLog) << QList<RateLimit>{{5, 10s}} << QByteArrayList{"rate:sliding:%1"};
    // Stacked: a client's keys carry its address as a hash tag, so one script call (one slot)
    // decides both limits.
    QTest::newRow("gcra 7/10s + 5/1m") << int(RateAlgorithm::Gcra) << QList<RateLimit>{{7, 10s}, {5, 60s}}
                                       << QByteArrayList{"rate:gcra:{%1}:7/10s", "rate:gcra:{%1}:5/1m"};
    QTest::newRow("sliding-window-counter 5/10s + 9/1m")
        << int(RateAlgorithm::SlidingWindowCounter) << QList<RateLimit>{{5, 10s}, {9, 60s}}
        << QByteArrayList{"rate:counter:{%1}:5/10s", "rate:counter:{%1}:9/1m"};
}

void tst_Cluster::limiterAdmitsExactlyTheLimit()
{
    QFETCH(int, algorithm);
    QFETCH(QList<RateLimit>, limits);
    QFETCH(QByteArrayList, keys);
    ServiceOptions o = options();
    o.rateLimits = {limits, RateAlgorithm(algorithm)};
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    const QByteArray client = clientIp(40);
    QList<QByteArray> requests;
    for (int i = 0; i < 30; ++i)
        requests << closingGet(QStringLiteral("/reports/burst"), client);
    int admitted = 0;
    int limited = 0;
    for (const HttpResult &a : http.concurrentRaw(requests)) {
        if (a.status == 200) {
            ++admitted;
        } else {
            QCOMPARE(a.status, 429);
            ++limited;
            QVERIFY(a.header("retry-after").toInt() >= 1);
            QCOMPARE(a.header("ratelimit-remaining"), QByteArray("0"));
        }
    }
    QCOMPARE(admitted, 5);
    QCOMPARE(limited, 25);
    // The client's keys are on the primary that owns their slot; the sliding log holds the five
    // admissions.
    for (const QByteArray &pattern : keys) {
        const QByteArray key = QByteArray(pattern).replace("%1", client);
        QCOMPARE(m_cluster.server(ownerOf(key)).command({"EXISTS", key}), QByteArray("1"));
        if (algorithm == int(RateAlgorithm::SlidingLog))
            QCOMPARE(m_cluster.server(ownerOf(key)).command({"ZCARD", key}), QByteArray("5"));
    }
    QCOMPARE(service->rateLimits().reports().counters().errors, 0u);
}

void tst_Cluster::stampedeComputesOnce()
{
    ServiceOptions o = options();
    o.reportDelay = 800ms; // every request arrives while the one computation runs
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    QList<QByteArray> requests;
    for (int i = 0; i < 20; ++i)
        requests << closingGet(QStringLiteral("/reports/stampede"), clientIp(100 + i));
    const QList<HttpResult> answers = http.concurrentRaw(requests);
    QSet<QString> reports;
    for (const HttpResult &a : answers) {
        QCOMPARE(a.status, 200);
        QCOMPARE(a.header("x-cache"), QByteArray("MISS"));
        reports.insert(a.json().value(QLatin1String("generated_at")).toString());
    }
    QCOMPARE(reports.size(), 1);
    QCOMPARE(service->source().computations(), 1u);
    QCOMPARE(service->cache().counters().writes, 1u);
    QCOMPARE(service->cache().counters().shared, 19u);
    const QByteArray metrics = http.get(QStringLiteral("/metrics")).body;
    QCOMPARE(metric(metrics, "cachedash_report_computations_total"), 1.0);
    const QByteArray key = "report:stampede";
    QCOMPARE(m_cluster.server(ownerOf(key)).command({"EXISTS", key}), QByteArray("1"));
    QCOMPARE(m_cluster.server(ownerOf(key))
                 .command({"EXISTS", ReportCache::leaseKeyFor(QStringLiteral("stampede"))}),
        QByteArray("0"));
}

void tst_Cluster::refreshDuringFillWins()
{
    // As tst_correctness does on one server: a refresh lands while the report is being computed.
    ServiceOptions o = options();
    o.reportDelay = 800ms;
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    const QByteArray key = "report:race";
    TestRedisServer &owner = m_cluster.server(ownerOf(key));
    RawConnection reader(service->port());
    reader.write(closingGet(QStringLiteral("/reports/race"), clientIp(50)));
    QTRY_COMPARE(service->source().inFlight(), 1);
    // The fill holds its lease, in the report's slot.
    QCOMPARE(owner.command({"EXISTS", ReportCache::leaseKeyFor(QStringLiteral("race"))}), QByteArray("1"));
    const HttpResult refresh = http.post(QStringLiteral("/reports/race/refresh"));
    QCOMPARE(refresh.status, 200);
    QCOMPARE(refresh.body, QByteArray("{\"invalidated\":false,\"fill_cancelled\":true}"));
    // The fill finishes after the refresh: its reader gets the report, but it is not stored.
    QCOMPARE(reader.waitForAnswers(1, 3000).size(), 1);
    QCOMPARE(reader.answers().first().status, 200);
    const QString preRefresh
        = reader.answers().first().json().value(QLatin1String("generated_at")).toString();
    QCOMPARE(owner.command({"EXISTS", key}), QByteArray("0"));
    QCOMPARE(service->cache().counters().writesDiscarded, 1u);
    QCOMPARE(service->cache().counters().writes, 0u);
    // The next read computes a fresh report, and that one is stored.
    const HttpResult next = http.get(QStringLiteral("/reports/race"), {{"X-Forwarded-For", clientIp(51)}});
    QCOMPARE(next.header("x-cache"), QByteArray("MISS"));
    QVERIFY(next.json().value(QLatin1String("generated_at")).toString() != preRefresh);
    const QJsonObject stored = QJsonDocument::fromJson(owner.command({"GET", key})).object();
    QCOMPARE(stored.value(QLatin1String("generated_at")).toString(),
        next.json().value(QLatin1String("generated_at")).toString());
}

void tst_Cluster::threeInstancesShareOneCluster()
{
    ServiceOptions o = options();
    o.reportDelay = 800ms;
    std::array<TestService, 3> services;
    for (TestService &s : services)
        QVERIFY2(s.start(o), qPrintable(s.errorString()));
    auto computations = [&services] {
        quint64 total = 0;
        for (TestService &s : services)
            total += s->source().computations();
        return total;
    };
    auto sendSpread = [&services](const QList<QByteArray> &requests) {
        std::vector<RawConnection> connections;
        for (qsizetype i = 0; i < requests.size(); ++i) {
            connections.emplace_back(services[size_t(i % 3)]->port());
            connections.back().write(requests[i]);
        }
        const auto complete = [&connections] {
            return std::count_if(connections.begin(), connections.end(),
                [](RawConnection &c) { return !c.answers().isEmpty(); });
        };
        waitUntil([&] { return complete() == qsizetype(connections.size()); }, 10000);
        QList<HttpResult> answers;
        for (RawConnection &c : connections)
            answers << c.answers().value(0);
        return answers;
    };

    // One client, thirty requests spread over the three instances: five admitted in all.
    const QByteArray client = clientIp(60);
    QList<QByteArray> burst;
    for (int i = 0; i < 30; ++i)
        burst << closingGet(QStringLiteral("/reports/trio-burst"), client);
    int admitted = 0;
    int limited = 0;
    for (const HttpResult &a : sendSpread(burst)) {
        admitted += a.status == 200 ? 1 : 0;
        limited += a.status == 429 ? 1 : 0;
    }
    QCOMPARE(admitted, 5);
    QCOMPARE(limited, 25);
    const QByteArray key = RateLimiter::keyFor(QString::fromLatin1(client));
    QCOMPARE(m_cluster.server(ownerOf(key)).command({"ZCARD", key}), QByteArray("5"));
    // The five admitted requests were a cold stampede of their own, across the instances.
    QCOMPARE(computations(), 1u);

    // A cold stampede across the three: one computation in total, one report for everyone.
    QList<QByteArray> stampede;
    for (int i = 0; i < 30; ++i)
        stampede << closingGet(QStringLiteral("/reports/trio"), clientIp(200 + i));
    QSet<QString> reports;
    for (const HttpResult &a : sendSpread(stampede)) {
        QCOMPARE(a.status, 200);
        QCOMPARE(a.header("x-cache"), QByteArray("MISS"));
        reports.insert(a.json().value(QLatin1String("generated_at")).toString());
    }
    QCOMPARE(reports.size(), 1);
    QCOMPARE(computations(), 2u);
    quint64 writes = 0;
    for (TestService &s : services)
        writes += s->cache().counters().writes;
    QCOMPARE(writes, 2u);
}

// A cluster has database 0 only: a URL with another does not start, and says to leave it out.
void tst_Cluster::databaseOnAClusterUrl()
{
    ServiceOptions o = options();
    o.redisUrl.database = 2;
    TestService service;
    QVERIFY(!service.start(o, 1500ms));
    QVERIFY2(service.errorString().contains(QStringLiteral("database 0 only: leave the /DB out")),
        qPrintable(service.errorString()));
}

void tst_Cluster::liveReshardingUnderLoad()
{
    // A short window, so that the limit is met and enforced several times while slots move.
    constexpr int kLimit = 5;
    constexpr milliseconds kWindow = 1s;
    constexpr milliseconds kDelay{200};
    // Short before the MIGRATE, so that the hot report is often still on the source then.
    constexpr milliseconds kBeforeMigrate{150};
    constexpr milliseconds kAfterMigrate{400};
    constexpr milliseconds kRedisTimeout{500};
    // As in tst_faults: no request waits longer than one Redis timeout and one computation, plus
    // slack for scheduling on a loaded machine.
    constexpr qint64 kBoundMs = (kRedisTimeout + kDelay + 400ms).count();
    ServiceOptions o = options();
    o.reportDelay = kDelay;
    o.redisTimeout = kRedisTimeout;
    o.rateLimits.limits = {{kLimit, duration_cast<seconds>(kWindow)}};
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));

    const QList<int> nodes = primaries();
    QCOMPARE(nodes.size(), 3);
    const QString hot = QStringLiteral("emea");
    const int hotSlot = keySlot(ReportCache::keyFor(hot));
    const int hotFrom = ownerOf(ReportCache::keyFor(hot));
    const int hotTo = nodes[(nodes.indexOf(hotFrom) + 1) % 3];
    // MixedLoad's first client is 198.18.7.1: its limiter's sorted set moves too.
    const QByteArray movedClient = "198.18.7.1";
    const QByteArray limiterKey = RateLimiter::keyFor(QString::fromLatin1(movedClient));
    const int limiterSlot = keySlot(limiterKey);
    const int limiterFrom = ownerOf(limiterKey);
    const int limiterTo = nodes[(nodes.indexOf(limiterFrom) + 1) % 3];
    QVERIFY(limiterSlot != hotSlot);

    MixedLoad::Settings settings;
    settings.port = service->port();
    settings.clients = 10;
    // emea is hot: four draws in six.
    settings.regions = {hot, hot, hot, hot, regionOn(nodes[0], QStringLiteral("cold")),
        regionOn(nodes[2], QStringLiteral("cold"))};
    settings.refreshPerMille = 10;
    settings.thinkMinMs = 5;
    settings.thinkMaxMs = 30;
    settings.healthEveryMs = 50;
    MixedLoad load(settings);

    struct Moves
    {
        std::atomic<bool> done{false};
        std::atomic<qint64> hotStartUs{-1};
        std::atomic<qint64> hotDoneUs{-1};
        std::atomic<qint64> limiterDoneUs{-1};
        QString error; // written before `done`
        int hotKeysMoved = 0; // written before `done`
        int limiterKeysMoved = 0; // written before `done`
    };
    auto moves = std::make_shared<Moves>();
    load.start();
    QVERIFY(waitUntil([&load] { return load.everyLoopAnswered(); }, 5000));
    const TestRedisCluster &cluster = m_cluster;
    std::thread mover([moves, &cluster, nodes, hotSlot, hotFrom, hotTo, limiterSlot, limiterFrom, limiterTo,
                          kBeforeMigrate, kAfterMigrate] {
        // Half a second of the load on the old map first.
        std::this_thread::sleep_for(500ms);
        moves->hotStartUs = monotonicUs();
        QString error = moveSlot(
            cluster, hotSlot, hotFrom, hotTo, nodes, kBeforeMigrate, kAfterMigrate, &moves->hotKeysMoved);
        moves->hotDoneUs = monotonicUs();
        if (error.isEmpty()) {
            error = moveSlot(cluster, limiterSlot, limiterFrom, limiterTo, nodes, kBeforeMigrate,
                kAfterMigrate, &moves->limiterKeysMoved);
            moves->limiterDoneUs = monotonicUs();
        }
        moves->error = error;
        moves->done = true;
    });
    const bool moved = waitUntil([&moves] { return moves->done.load(); }, 20000);
    mover.join();
    QVERIFY(moved);
    QVERIFY2(moves->error.isEmpty(), qPrintable(moves->error));
    // The load goes on for a while on the new map, then drains.
    runEventsUntil(monotonicUs() + 1500 * 1000);
    load.stop();
    QVERIFY(waitUntil([&load] { return load.drained(); }, 5000));

    QCOMPARE(m_cluster.primaryFor(hotSlot, hotTo), hotTo);
    QCOMPARE(m_cluster.primaryFor(limiterSlot, limiterTo), limiterTo);
    const qint64 t0 = load.startUs();
    const RedisRouter::Stats stats = service->redis().stats();
    qInfo("moved slot %d (report:%s) from node %d to %d at +%lld..+%lld ms (%d keys migrated), slot %d (%s) "
          "from node %d to %d until +%lld ms (%d keys migrated)",
        hotSlot, qPrintable(hot), hotFrom, hotTo, (moves->hotStartUs - t0) / 1000,
        (moves->hotDoneUs - t0) / 1000, moves->hotKeysMoved, limiterSlot, limiterKey.constData(), limiterFrom,
        limiterTo, (moves->limiterDoneUs - t0) / 1000, moves->limiterKeysMoved);
    qInfo().noquote() << "router:" << statsText(stats);

    // Every request answered, once, with a documented answer; no 500.
    QMap<QString, int> outcomes;
    QStringList wrong;
    int lost = 0;
    int status500 = 0;
    double maxLatencyMs = 0;
    for (const Exchange &e : load.exchanges()) {
        if (!e.answered()) {
            ++lost;
            continue;
        }
        maxLatencyMs = std::max(maxLatencyMs, e.latencyMs());
        ++outcomes[labelOf(e.kind) + u' ' + QString::number(e.status) + u' ' + QString::fromLatin1(e.xCache)];
        status500 += e.status == 500 ? 1 : 0;
        const QString why = e.kind == RequestKind::Report && e.status == 429
            ? (e.retryAfter.toInt() >= 1 ? QString() : QStringLiteral("429 without Retry-After"))
            : problemWith(e, false);
        if (!why.isEmpty() && wrong.size() < 10)
            wrong << QStringLiteral("%1 %2 at +%3 ms: %4 %5")
                         .arg(labelOf(e.kind), e.region)
                         .arg((e.sentUs - t0) / 1000)
                         .arg(why, QString::fromUtf8(e.body.left(200)));
    }
    QStringList outcomeText;
    for (auto it = outcomes.cbegin(); it != outcomes.cend(); ++it)
        outcomeText << it.key().trimmed() + QStringLiteral(": ") + QString::number(it.value());
    qInfo().noquote() << load.exchanges().size() << "requests, max latency" << maxLatencyMs << "ms;"
                      << outcomeText.join(QStringLiteral(", "));
    std::vector<const Exchange *> slowest;
    for (const Exchange &e : load.exchanges()) {
        if (e.answered() && e.latencyMs() > double(kBoundMs))
            slowest.push_back(&e);
    }
    for (size_t i = 0; i < std::min<size_t>(slowest.size(), 5); ++i)
        qInfo().noquote() << QStringLiteral("  slow: %1 %2 %3 %4 sent at +%5 ms, answered after %6 ms")
                                 .arg(labelOf(slowest[i]->kind), slowest[i]->region)
                                 .arg(slowest[i]->status)
                                 .arg(QString::fromLatin1(slowest[i]->xCache))
                                 .arg((slowest[i]->sentUs - t0) / 1000)
                                 .arg(slowest[i]->latencyMs(), 0, 'f', 0);
    qInfo("limiter: %llu allowed, %llu limited, %llu undecided (failure policy)",
        service->rateLimits().reports().counters().allowed,
        service->rateLimits().reports().counters().limited,
        service->rateLimits().reports().counters().errors);
    QCOMPARE(lost, 0);
    QCOMPARE(load.unexpectedAnswers(), 0);
    QCOMPARE(status500, 0);
    QVERIFY2(wrong.isEmpty(), qPrintable(wrong.join(u'\n')));

    // No client admitted more than its limit in any window, the moved one included.
    const LimitCheck limits = checkLimit(load.exchanges(), kLimit, kWindow);
    qInfo("limiter check: %d clients, %d admitted, %d limited, the tightest %d admissions spanned %lld ms "
          "(window %lld ms)",
        limits.clients, limits.admitted, limits.limited, kLimit + 1, limits.tightestMs,
        qint64(kWindow.count()));
    QVERIFY2(limits.violations == 0, qPrintable(limits.examples.join(u'\n')));
    QVERIFY(limits.limited > 0); // the limit was met: the check checked something

    // No acknowledged invalidation undone.
    const InvalidationCheck invalidation = checkInvalidation(load.exchanges(), kDelay.count());
    qInfo("invalidation check: %d refreshes acknowledged (%d within the report delay), %d cached answers "
          "checked after them",
        invalidation.refreshes, invalidation.covered, invalidation.checked);
    QVERIFY2(invalidation.violations == 0, qPrintable(invalidation.examples.join(u'\n')));
    QVERIFY(invalidation.checked > 0);

    // The router followed the moves: ASK while the slots migrated, MOVED once they had.
    QVERIFY2(stats.ask > 0, qPrintable(statsText(stats)));
    QVERIFY2(stats.moved > 0, qPrintable(statsText(stats)));
    QCOMPARE(service->redis().nodeFor(ReportCache::keyFor(hot)).toLatin1(), address(m_cluster.server(hotTo)));
    QCOMPARE(service->redis().nodeFor(limiterKey).toLatin1(), address(m_cluster.server(limiterTo)));
    // The moved client's sorted set itself crossed over (MIGRATE), with the load on it.
    QCOMPARE(moves->limiterKeysMoved, 1);

    // A planned move is no fault: no request waits longer than it may when Redis fails outright.
    QVERIFY2(slowest.empty(),
        qPrintable(QStringLiteral("%1 requests slower than %2 ms, the slowest %3 ms")
                       .arg(slowest.size())
                       .arg(kBoundMs)
                       .arg(maxLatencyMs, 0, 'f', 0)));
}

void tst_Cluster::failoverOfAHotPrimary()
{
    ServiceOptions o = options();
    o.reportDelay = 200ms;
    o.redisTimeout = 500ms;
    o.rateLimits.limits
        = {{1'000'000, std::chrono::seconds(10)}}; // permissive: the limiter runs, but refuses nobody
    TestService service;
    QVERIFY2(service.start(o), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};

    const QList<int> nodes = primaries();
    QCOMPARE(nodes.size(), 3);
    // The victim is a primary other than the one the service was given (that one is node 0).
    const int victim = nodes[1];
    const QString hot = regionOn(victim, QStringLiteral("hot"));
    const QByteArray hotKey = ReportCache::keyFor(hot);
    const int hotSlot = keySlot(hotKey);
    int replica = -1;
    for (int i = 0; i < m_cluster.size(); ++i) {
        if (m_cluster.server(i).isRunning()
            && m_cluster.server(i).info("replication", "master_port").toInt()
                == m_cluster.server(victim).port())
            replica = i;
    }
    QVERIFY(replica >= 0);
    const QByteArray victimAddress = address(m_cluster.server(victim));

    // The hot report is cached, and its replica has it.
    QCOMPARE(http.get(QStringLiteral("/reports/") + hot).header("x-cache"), QByteArray("MISS"));
    QCOMPARE(http.get(QStringLiteral("/reports/") + hot).header("x-cache"), QByteArray("HIT"));
    QVERIFY(waitUntil(
        [&] {
            return m_cluster.server(replica)
                       .command({"CLUSTER", "COUNTKEYSINSLOT", QByteArray::number(hotSlot)})
                       .toInt()
                >= 1;
        },
        3000));

    MixedLoad::Settings settings;
    settings.port = service->port();
    settings.clients = 8;
    // The hot region on the victim, and one on each surviving primary: those keep hitting.
    settings.regions
        = {hot, hot, regionOn(nodes[0], QStringLiteral("live")), regionOn(nodes[2], QStringLiteral("live"))};
    settings.refreshPerMille = 0;
    settings.healthEveryMs = 20;
    MixedLoad load(settings);
    load.start();
    QVERIFY(waitUntil([&load] { return load.everyLoopAnswered(); }, 5000));
    runEventsUntil(monotonicUs() + 300 * 1000);

    // A watcher on its own thread notes when the replica wins its election.
    struct Watch
    {
        std::atomic<bool> stop{false};
        std::atomic<qint64> promotedUs{-1};
    };
    auto watch = std::make_shared<Watch>();
    const TestRedisServer &successor = m_cluster.server(replica);
    std::thread watcher([watch, &successor] {
        while (!watch->stop && watch->promotedUs < 0) {
            if (successor.info("replication", "role") == "master")
                watch->promotedUs = monotonicUs();
            else
                std::this_thread::sleep_for(5ms);
        }
    });

    // Exchanges are recorded in the order sent: those from here on were sent after the kill.
    const size_t firstAfterKill = load.exchanges().size();
    const qint64 killUs = monotonicUs();
    m_cluster.server(victim).kill();
    qint64 firstHitUs = -1;
    qint64 degradedUs = -1;
    qint64 healthyUs = -1;
    auto scan = [&] {
        const std::vector<Exchange> &xs = load.exchanges();
        for (size_t i = firstAfterKill; i < xs.size(); ++i) {
            const Exchange &e = xs[i];
            if (!e.answered())
                continue;
            if (e.kind == RequestKind::Report && e.region == hot && e.xCache == "HIT"
                && (firstHitUs < 0 || e.doneUs < firstHitUs))
                firstHitUs = e.doneUs;
            if (e.kind == RequestKind::Health && e.status == 503 && e.body.contains("\"status\":\"degraded\"")
                && e.body.contains(victimAddress) && (degradedUs < 0 || e.doneUs < degradedUs))
                degradedUs = e.doneUs;
        }
        // /healthz ok again: the first ok answer to a request sent after it said degraded.
        for (size_t i = firstAfterKill; i < xs.size() && degradedUs >= 0 && healthyUs < 0; ++i) {
            const Exchange &e = xs[i];
            if (e.kind == RequestKind::Health && e.answered() && e.sentUs > degradedUs && e.status == 200
                && e.body.contains("\"status\":\"ok\""))
                healthyUs = e.doneUs;
        }
        return firstHitUs >= 0 && healthyUs >= 0;
    };
    const bool recovered = waitUntil(scan, kNodeTimeout.count() + 10000);
    watch->stop = true;
    watcher.join();
    runEventsUntil(monotonicUs() + 300 * 1000);
    load.stop();
    QVERIFY(waitUntil([&load] { return load.drained(); }, 5000));
    scan();

    const qint64 promotedMs = watch->promotedUs < 0 ? -1 : (watch->promotedUs - killUs) / 1000;
    // How the hot region's requests sent between the kill and the first hit were answered.
    QMap<QByteArray, int> meanwhile;
    for (const Exchange &e : load.exchanges()) {
        if (e.kind == RequestKind::Report && e.region == hot && e.sentUs >= killUs
            && (firstHitUs < 0 || !e.answered() || e.doneUs < firstHitUs))
            ++meanwhile[QByteArray::number(e.status) + ' ' + e.xCache];
    }
    QStringList meanwhileText;
    for (auto it = meanwhile.cbegin(); it != meanwhile.cend(); ++it)
        meanwhileText << QString::fromLatin1(it.key()) + QStringLiteral(": ") + QString::number(it.value());
    qInfo(
        "killed primary node %d (%s); its replica node %d was promoted after %lld ms; hits of %s again after "
        "%lld ms; /healthz degraded after %lld ms, ok again after %lld ms",
        victim, victimAddress.constData(), replica, promotedMs, qPrintable(hot),
        firstHitUs < 0 ? -1 : (firstHitUs - killUs) / 1000,
        degradedUs < 0 ? -1 : (degradedUs - killUs) / 1000, healthyUs < 0 ? -1 : (healthyUs - killUs) / 1000);
    qInfo().noquote() << "the hot region meanwhile:" << meanwhileText.join(QStringLiteral(", "));
    qInfo().noquote() << "router:" << statsText(service->redis().stats());

    QVERIFY2(watch->promotedUs >= 0, "the replica was not promoted");
    QVERIFY2(recovered, "no hit of the hot region, or /healthz not ok again, after the failover");
    QVERIFY2(firstHitUs - watch->promotedUs <= kRecoveryMs * 1000,
        qPrintable(QStringLiteral("hits came back %1 ms after the promotion")
                       .arg((firstHitUs - watch->promotedUs) / 1000)));
    QVERIFY2(degradedUs >= 0, "/healthz never said degraded naming the dead primary");
    QVERIFY(service->redis().stats().failovers >= 1);
    const HttpResult health = http.get(QStringLiteral("/healthz"));
    QCOMPARE(health.status, 200);
    QVERIFY(!health.body.contains(victimAddress));
    QVERIFY(health.body.contains(address(m_cluster.server(replica))));

    // Every request answered, within a Redis timeout and a computation (plus slack), never a 500.
    const Tally tally = tallyOf(load, false, (o.redisTimeout + o.reportDelay + 400ms).count());
    qInfo().noquote() << tally.sent << "requests, max latency" << tally.maxLatency() << "ms;"
                      << tally.outcomesText();
    checkEveryAnswer(tally, load);
}

QTEST_GUILESS_MAIN(tst_Cluster)
#include "tst_cluster.moc"
