// SPDX-License-Identifier: GPL-3.0-or-later
#include "cache/reportcache.h"
#include "cache/reportsource.h"
#include "redis/redisrouter.h"
#include "testlib/testredisserver.h"

#include <QElapsedTimer>
#include <QSet>
#include <QTest>

#include <qcoro/qcorotask.h>

#include <memory>
#include <vector>

using namespace std::chrono;
using namespace std::chrono_literals;
using Cachedash::CacheFill;
using Cachedash::CacheRead;
using Cachedash::MetricsWriter;
using Cachedash::RedisRouter;
using Cachedash::RedisUrl;
using Cachedash::Report;
using Cachedash::ReportCache;
using Cachedash::ReportSource;
using Cachedash::Test::TestRedisServer;

namespace {

constexpr milliseconds Delay{50};

// A cache over a real Redis, as the service builds one. Members go in reverse order: the cache
// before the source and the client it uses.
struct Rig
{
    Rig(const QString &url, ReportCache::Settings settings)
        : redis(RedisUrl::parse(url).value())
        , source(Delay)
        , cache(redis, source, settings)
    {
        redis.open();
    }
    bool ready() { return QCoro::waitFor(redis.waitForReady(5s)); }

    RedisRouter redis;
    ReportSource source;
    ReportCache cache;
};

ReportCache::Settings settingsWith(seconds ttl, seconds stale = 0s, seconds jitter = 0s)
{
    ReportCache::Settings s;
    s.ttl = ttl;
    s.staleWhileRevalidate = stale;
    s.ttlJitter = jitter;
    return s;
}

QByteArray validJson(const QString &region)
{
    return Report::compute(region, QDateTime::currentDateTimeUtc()).toJson(false);
}

} // namespace

class tst_ReportCache : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();

    void missThenFillThenHit();
    void readsIssuedTogetherShareOneLookup();
    void concurrentFillsComputeOnce_data();
    void concurrentFillsComputeOnce();
    void invalidateAfterFillDeletes();
    void invalidateDuringFillCancelsItsWrite();
    void corruptValueIsAMiss_data();
    void corruptValueIsAMiss();
    void redisDownGivesUnavailableAndBypass();
    void bypassNeverStores();
    void writeTtl_data();
    void writeTtl();
    void jitterSpreadsTtls();
    void leaseTtlCoversTheComputation();
    void staleAndRevalidate();
    void anotherHoldersReportIsShared();
    void expiredLeaseIsTakenOver();
    void overloadedBeyondMaxComputations();
    void shutdownCancelsTheFill();
    void writeMetricsNamesItsFamilies();

private:
    std::unique_ptr<Rig> rig(ReportCache::Settings settings = settingsWith(30s));

    TestRedisServer m_server;
};

void tst_ReportCache::initTestCase()
{
    QVERIFY2(m_server.start(), qPrintable(m_server.errorString()));
}

void tst_ReportCache::init()
{
    if (!m_server.isRunning())
        QVERIFY2(m_server.restart(), qPrintable(m_server.errorString()));
    QCOMPARE(m_server.command({"FLUSHALL"}), QByteArray("OK"));
}

std::unique_ptr<Rig> tst_ReportCache::rig(ReportCache::Settings settings)
{
    auto r = std::make_unique<Rig>(m_server.url(), settings);
    if (!r->ready())
        return nullptr;
    return r;
}

void tst_ReportCache::missThenFillThenHit()
{
    auto r = rig();
    QVERIFY(r);
    const QString region = QStringLiteral("emea");

    const CacheRead miss = QCoro::waitFor(r->cache.read(region));
    QCOMPARE(miss.outcome, CacheRead::Outcome::Miss);

    const CacheFill fill = QCoro::waitFor(r->cache.fill(region));
    QCOMPARE(fill.outcome, CacheFill::Outcome::Computed);
    QCOMPARE(fill.report.region, region);
    QCOMPARE(fill.report.totalSales, Report::totalSalesFor(region));
    QCOMPARE(fill.stored, fill.report.toJson(false));
    QCOMPARE(fill.freshFor, milliseconds(30s));
    QCOMPARE(m_server.command({"GET", "report:emea"}), fill.stored);
    QCOMPARE(m_server.command({"EXISTS", "{report:emea}:lease"}), QByteArray("0")); // released
    QCOMPARE(r->source.computations(), quint64(1));
    QCOMPARE(r->cache.counters().writes, quint64(1));

    const CacheRead hit = QCoro::waitFor(r->cache.read(region));
    QCOMPARE(hit.outcome, CacheRead::Outcome::Hit);
    QCOMPARE(hit.stored, fill.stored);
    QCOMPARE(hit.report.region, region);
    QCOMPARE(hit.report.totalSales, fill.report.totalSales);
    QCOMPARE(hit.report.generatedAt, fill.report.generatedAt);
    QCOMPARE(hit.servedJson, fill.report.toJson(true));
    QCOMPARE(hit.fingerprint, ReportCache::fingerprint(fill.stored));
    QVERIFY(hit.freshFor > 28s && hit.freshFor <= 30s);
    // A hit computes nothing.
    QCOMPARE(r->source.computations(), quint64(1));

    const CacheRead again = QCoro::waitFor(r->cache.read(region));
    QCOMPARE(again.outcome, CacheRead::Outcome::Hit);
    QCOMPARE(again.fingerprint, hit.fingerprint);
}

void tst_ReportCache::readsIssuedTogetherShareOneLookup()
{
    auto r = rig();
    QVERIFY(r);
    QCOMPARE(m_server.command({"SET", "report:emea", validJson(QStringLiteral("emea"))}), QByteArray("OK"));
    const qint64 before = m_server.commandCalls("get");
    QCoro::Task<CacheRead> first = r->cache.read(QStringLiteral("emea"));
    QCoro::Task<CacheRead> second = r->cache.read(QStringLiteral("emea"));
    QCoro::Task<CacheRead> other = r->cache.read(QStringLiteral("apac"));
    QCOMPARE(QCoro::waitFor(first).outcome, CacheRead::Outcome::Hit);
    QCOMPARE(QCoro::waitFor(second).outcome, CacheRead::Outcome::Hit);
    QCOMPARE(QCoro::waitFor(other).outcome, CacheRead::Outcome::Miss);
    // One GET for both reads of emea, one for apac.
    QCOMPARE(m_server.commandCalls("get") - before, 2);
}

void tst_ReportCache::concurrentFillsComputeOnce_data()
{
    QTest::addColumn<int>("callers");
    QTest::newRow("2") << 2;
    QTest::newRow("25") << 25;
}

void tst_ReportCache::concurrentFillsComputeOnce()
{
    QFETCH(int, callers);
    auto r = rig();
    QVERIFY(r);
    std::vector<QCoro::Task<CacheFill>> fills;
    for (int i = 0; i < callers; ++i)
        fills.push_back(r->cache.fill(QStringLiteral("emea")));
    QCOMPARE(r->cache.computationsUnderWay(), 1);

    int computed = 0;
    int shared = 0;
    QSet<QByteArray> stored;
    for (QCoro::Task<CacheFill> &task : fills) {
        const CacheFill fill = QCoro::waitFor(task);
        computed += fill.outcome == CacheFill::Outcome::Computed;
        shared += fill.outcome == CacheFill::Outcome::Shared;
        stored.insert(fill.stored);
    }
    QCOMPARE(computed, 1);
    QCOMPARE(shared, callers - 1);
    QCOMPARE(stored.size(), 1);
    QCOMPARE(r->source.computations(), quint64(1));
    QCOMPARE(r->cache.counters().shared, quint64(callers - 1));
    QCOMPARE(r->cache.counters().writes, quint64(1));
    QCOMPARE(r->cache.computationsUnderWay(), 0);
    QCOMPARE(m_server.command({"GET", "report:emea"}), *stored.cbegin());
}

void tst_ReportCache::invalidateAfterFillDeletes()
{
    auto r = rig();
    QVERIFY(r);
    QCOMPARE(QCoro::waitFor(r->cache.fill(QStringLiteral("emea"))).outcome, CacheFill::Outcome::Computed);
    const auto invalidated = QCoro::waitFor(r->cache.invalidate(QStringLiteral("emea")));
    QVERIFY(invalidated);
    QVERIFY(invalidated->deleted);
    QVERIFY(!invalidated->fillCancelled);
    QCOMPARE(m_server.command({"EXISTS", "report:emea"}), QByteArray("0"));
    QCOMPARE(QCoro::waitFor(r->cache.read(QStringLiteral("emea"))).outcome, CacheRead::Outcome::Miss);

    const auto nothing = QCoro::waitFor(r->cache.invalidate(QStringLiteral("emea")));
    QVERIFY(nothing);
    QVERIFY(!nothing->deleted);
    QVERIFY(!nothing->fillCancelled);
}

void tst_ReportCache::invalidateDuringFillCancelsItsWrite()
{
    auto r = rig();
    QVERIFY(r);
    const QString region = QStringLiteral("emea");
    QCoro::Task<CacheFill> early = r->cache.fill(region);
    QTRY_COMPARE(r->source.inFlight(), 1); // the lease is taken, the computation under way

    const auto invalidated = QCoro::waitFor(r->cache.invalidate(region));
    QVERIFY(invalidated);
    QVERIFY(!invalidated->deleted);
    QVERIFY(invalidated->fillCancelled);

    // A fill after the refresh does not join the computation that began before it.
    QCoro::Task<CacheFill> late = r->cache.fill(region);
    const CacheFill earlyFill = QCoro::waitFor(early);
    const CacheFill lateFill = QCoro::waitFor(late);
    QCOMPARE(earlyFill.outcome, CacheFill::Outcome::Computed); // its caller still gets an answer
    QCOMPARE(lateFill.outcome, CacheFill::Outcome::Computed);
    QCOMPARE(r->source.computations(), quint64(2));
    QCOMPARE(r->cache.counters().writesDiscarded, quint64(1));
    QCOMPARE(r->cache.counters().writes, quint64(1));
    // Only the report computed after the refresh is stored.
    QCOMPARE(m_server.command({"GET", "report:emea"}), lateFill.stored);
}

void tst_ReportCache::corruptValueIsAMiss_data()
{
    QTest::addColumn<QByteArrayList>("store");
    const QByteArray valid = validJson(QStringLiteral("emea"));
    QTest::newRow("not json") << QByteArrayList{"SET", "report:emea", "hello"};
    QTest::newRow("truncated") << QByteArrayList{"SET", "report:emea", valid.chopped(1)};
    QTest::newRow("another region's report")
        << QByteArrayList{"SET", "report:emea", validJson(QStringLiteral("apac"))};
    QTest::newRow("empty string") << QByteArrayList{"SET", "report:emea", ""};
    QTest::newRow("a hash") << QByteArrayList{"HSET", "report:emea", "region", "emea"};
}

void tst_ReportCache::corruptValueIsAMiss()
{
    QFETCH(QByteArrayList, store);
    auto r = rig();
    QVERIFY(r);
    const QByteArray stored = m_server.command(store);
    QVERIFY2(!stored.startsWith('('), stored.constData());

    const CacheRead read = QCoro::waitFor(r->cache.read(QStringLiteral("emea")));
    QCOMPARE(read.outcome, CacheRead::Outcome::Corrupt);
    QVERIFY(!read.problem.isEmpty());
    QCOMPARE(r->cache.counters().corrupt, quint64(1));

    // Filling overwrites it, whatever its type.
    const CacheFill fill = QCoro::waitFor(r->cache.fill(QStringLiteral("emea")));
    QCOMPARE(fill.outcome, CacheFill::Outcome::Computed);
    const CacheRead after = QCoro::waitFor(r->cache.read(QStringLiteral("emea")));
    QCOMPARE(after.outcome, CacheRead::Outcome::Hit);
    QCOMPARE(after.stored, fill.stored);
    QCOMPARE(r->cache.counters().corrupt, quint64(1));
}

void tst_ReportCache::redisDownGivesUnavailableAndBypass()
{
    auto r = rig();
    QVERIFY(r);
    m_server.kill();
    QTRY_VERIFY(!r->redis.isReady());

    const CacheRead read = QCoro::waitFor(r->cache.read(QStringLiteral("emea")));
    QCOMPARE(read.outcome, CacheRead::Outcome::Unavailable);
    QVERIFY(!read.problem.isEmpty());

    // Bypasses of one region compute once, like fills.
    QCoro::Task<CacheFill> first = r->cache.bypass(QStringLiteral("emea"));
    QCoro::Task<CacheFill> second = r->cache.bypass(QStringLiteral("emea"));
    const CacheFill a = QCoro::waitFor(first);
    const CacheFill b = QCoro::waitFor(second);
    QCOMPARE(a.outcome, CacheFill::Outcome::Bypass);
    QCOMPARE(b.outcome, CacheFill::Outcome::Bypass);
    QCOMPARE(a.report.region, QStringLiteral("emea"));
    QCOMPARE(b.stored, a.stored);
    QCOMPARE(a.freshFor, 0ms);
    QCOMPARE(r->source.computations(), quint64(1));

    // A fill that cannot take the lease computes around the cache too.
    const CacheFill fill = QCoro::waitFor(r->cache.fill(QStringLiteral("apac")));
    QCOMPARE(fill.outcome, CacheFill::Outcome::Bypass);
    QCOMPARE(r->source.computations(), quint64(2));
    QCOMPARE(r->cache.counters().writes, quint64(0));
}

void tst_ReportCache::bypassNeverStores()
{
    auto r = rig();
    QVERIFY(r);
    const CacheFill fill = QCoro::waitFor(r->cache.bypass(QStringLiteral("emea")));
    QCOMPARE(fill.outcome, CacheFill::Outcome::Bypass);
    QCOMPARE(fill.stored, fill.report.toJson(false));
    QCOMPARE(r->source.computations(), quint64(1));
    QCOMPARE(m_server.command({"DBSIZE"}), QByteArray("0")); // neither report nor lease
    QCOMPARE(r->cache.counters().writes, quint64(0));
}

void tst_ReportCache::writeTtl_data()
{
    QTest::addColumn<int>("ttl");
    QTest::addColumn<int>("stale");
    QTest::newRow("30 s") << 30 << 0;
    QTest::newRow("2 s") << 2 << 0;
    QTest::newRow("10 s with 5 s of grace") << 10 << 5;
}

void tst_ReportCache::writeTtl()
{
    QFETCH(int, ttl);
    QFETCH(int, stale);
    auto r = rig(settingsWith(seconds(ttl), seconds(stale)));
    QVERIFY(r);
    const CacheFill fill = QCoro::waitFor(r->cache.fill(QStringLiteral("emea")));
    QCOMPARE(fill.outcome, CacheFill::Outcome::Computed);
    QCOMPARE(fill.freshFor, milliseconds(seconds(ttl)));
    // The key lives through the grace as well.
    const qint64 pttl = m_server.command({"PTTL", "report:emea"}).toLongLong();
    QVERIFY2(pttl > (ttl + stale) * 1000 - 1000 && pttl <= (ttl + stale) * 1000,
        qPrintable(QString::number(pttl)));

    const CacheRead read = QCoro::waitFor(r->cache.read(QStringLiteral("emea")));
    QCOMPARE(read.outcome, CacheRead::Outcome::Hit);
    QVERIFY2(read.freshFor > milliseconds(ttl * 1000 - 1000) && read.freshFor <= seconds(ttl),
        qPrintable(QString::number(read.freshFor.count())));
}

void tst_ReportCache::jitterSpreadsTtls()
{
    auto r = rig(settingsWith(5s, 0s, 3s));
    QVERIFY(r);
    // Twelve regions at once: with four possible TTLs, all alike would be a 1 in 4 million chance.
    std::vector<QCoro::Task<CacheFill>> fills;
    for (char c = 'a'; c < 'a' + 12; ++c)
        fills.push_back(r->cache.fill(QString(QLatin1Char(c))));
    QSet<qint64> ttls;
    for (char c = 'a'; c < 'a' + 12; ++c) {
        QCOMPARE(QCoro::waitFor(fills[size_t(c - 'a')]).outcome, CacheFill::Outcome::Computed);
        const qint64 pttl = m_server.command({"PTTL", QByteArray("report:") + c}).toLongLong();
        QVERIFY2(pttl > 4000 && pttl <= 8000, qPrintable(QString::number(pttl)));
        ttls.insert((pttl + 999) / 1000);
    }
    QVERIFY(ttls.size() > 1);
    QCOMPARE(r->source.computations(), quint64(12));
}

void tst_ReportCache::leaseTtlCoversTheComputation()
{
    auto r = rig();
    QVERIFY(r);
    QCoro::Task<CacheFill> filling = r->cache.fill(QStringLiteral("emea"));
    QTRY_COMPARE(r->source.inFlight(), 1);
    // Twice the computation and a second: enough to compute and write, short enough to take over.
    const qint64 lease = m_server.command({"PTTL", "{report:emea}:lease"}).toLongLong();
    QVERIFY2(lease > 900 && lease <= 2 * Delay.count() + 1000, qPrintable(QString::number(lease)));
    QCOMPARE(QCoro::waitFor(filling).outcome, CacheFill::Outcome::Computed);
    QCOMPARE(m_server.command({"EXISTS", "{report:emea}:lease"}), QByteArray("0"));
}

void tst_ReportCache::staleAndRevalidate()
{
    auto r = rig(settingsWith(30s, 10s));
    QVERIFY(r);
    QCOMPARE(QCoro::waitFor(r->cache.fill(QStringLiteral("emea"))).outcome, CacheFill::Outcome::Computed);
    // Into the grace: past its TTL, still stored.
    QCOMPARE(m_server.command({"PEXPIRE", "report:emea", "5000"}), QByteArray("1"));
    const CacheRead stale = QCoro::waitFor(r->cache.read(QStringLiteral("emea")));
    QCOMPARE(stale.outcome, CacheRead::Outcome::Stale);
    QCOMPARE(stale.report.region, QStringLiteral("emea"));

    r->cache.revalidate(QStringLiteral("emea"));
    r->cache.revalidate(QStringLiteral("emea")); // already under way: not twice
    QCOMPARE(r->cache.counters().revalidations, quint64(1));
    QTRY_COMPARE(r->cache.counters().writes, quint64(2));
    QCOMPARE(r->source.computations(), quint64(2));
    QVERIFY(m_server.command({"PTTL", "report:emea"}).toLongLong() > 30000);
    QCOMPARE(QCoro::waitFor(r->cache.read(QStringLiteral("emea"))).outcome, CacheRead::Outcome::Hit);
}

void tst_ReportCache::anotherHoldersReportIsShared()
{
    auto r = rig();
    QVERIFY(r);
    // Another process is computing emea.
    QCOMPARE(m_server.command({"SET", "{report:emea}:lease", "theirs", "PX", "5000"}), QByteArray("OK"));
    QCoro::Task<CacheFill> filling = r->cache.fill(QStringLiteral("emea"));
    QTRY_VERIFY(m_server.commandCalls("pttl") > 0); // it is polling
    QVERIFY(!filling.isReady());
    const QByteArray theirs = validJson(QStringLiteral("emea"));
    QCOMPARE(m_server.command({"SET", "report:emea", theirs, "EX", "30"}), QByteArray("OK"));

    const CacheFill fill = QCoro::waitFor(filling);
    QCOMPARE(fill.outcome, CacheFill::Outcome::Shared);
    QCOMPARE(fill.stored, theirs);
    QCOMPARE(r->source.computations(), quint64(0));
    QCOMPARE(r->cache.counters().shared, quint64(1));
    QCOMPARE(m_server.command({"GET", "{report:emea}:lease"}), QByteArray("theirs"));
}

void tst_ReportCache::expiredLeaseIsTakenOver()
{
    auto r = rig();
    QVERIFY(r);
    // Its holder died: the lease runs out and nobody writes.
    QCOMPARE(m_server.command({"SET", "{report:emea}:lease", "theirs", "PX", "150"}), QByteArray("OK"));
    QElapsedTimer clock;
    clock.start();
    const CacheFill fill = QCoro::waitFor(r->cache.fill(QStringLiteral("emea")));
    QCOMPARE(fill.outcome, CacheFill::Outcome::Computed);
    QVERIFY(clock.elapsed() >= 150 + Delay.count());
    QCOMPARE(r->source.computations(), quint64(1));
    QCOMPARE(m_server.command({"GET", "report:emea"}), fill.stored);
}

void tst_ReportCache::overloadedBeyondMaxComputations()
{
    ReportCache::Settings settings = settingsWith(30s);
    settings.maxComputations = 1;
    auto r = rig(settings);
    QVERIFY(r);
    QCoro::Task<CacheFill> first = r->cache.fill(QStringLiteral("emea"));
    QCoro::Task<CacheFill> refused = r->cache.fill(QStringLiteral("apac"));
    QVERIFY(refused.isReady());
    QCOMPARE(QCoro::waitFor(refused).outcome, CacheFill::Outcome::Overloaded);
    QCOMPARE(QCoro::waitFor(r->cache.bypass(QStringLiteral("apac"))).outcome, CacheFill::Outcome::Overloaded);
    // Joining the computation under way is always possible.
    QCoro::Task<CacheFill> joined = r->cache.fill(QStringLiteral("emea"));
    QCOMPARE(QCoro::waitFor(first).outcome, CacheFill::Outcome::Computed);
    QCOMPARE(QCoro::waitFor(joined).outcome, CacheFill::Outcome::Shared);
    QCOMPARE(r->source.computations(), quint64(1));
    // Room again.
    QCOMPARE(QCoro::waitFor(r->cache.fill(QStringLiteral("apac"))).outcome, CacheFill::Outcome::Computed);
}

void tst_ReportCache::shutdownCancelsTheFill()
{
    auto r = rig();
    QVERIFY(r);
    QCoro::Task<CacheFill> filling = r->cache.fill(QStringLiteral("emea"));
    QTRY_COMPARE(r->source.inFlight(), 1);
    r->source.shutdown();
    QVERIFY(filling.isReady());
    QCOMPARE(QCoro::waitFor(filling).outcome, CacheFill::Outcome::Cancelled);
    QCOMPARE(m_server.command({"EXISTS", "report:emea"}), QByteArray("0"));
    QCOMPARE(QCoro::waitFor(r->cache.fill(QStringLiteral("apac"))).outcome, CacheFill::Outcome::Cancelled);
}

void tst_ReportCache::writeMetricsNamesItsFamilies()
{
    auto r = rig();
    QVERIFY(r);
    QCOMPARE(m_server.command({"SET", "report:apac", "junk"}), QByteArray("OK"));
    QCOMPARE(QCoro::waitFor(r->cache.read(QStringLiteral("apac"))).outcome, CacheRead::Outcome::Corrupt);
    QCoro::Task<CacheFill> a = r->cache.fill(QStringLiteral("emea"));
    QCoro::Task<CacheFill> b = r->cache.fill(QStringLiteral("emea"));
    QCoro::waitFor(a);
    QCoro::waitFor(b);

    MetricsWriter out;
    r->cache.writeMetrics(out);
    const QByteArray text = out.text();
    const QByteArray expected[] = {
        "# TYPE cachedash_cache_writes_total counter\ncachedash_cache_writes_total 1\n",
        "# TYPE cachedash_cache_writes_discarded_total counter\ncachedash_cache_writes_discarded_total 0\n",
        "# TYPE cachedash_cache_shared_total counter\ncachedash_cache_shared_total 1\n",
        "# TYPE cachedash_cache_corrupt_entries_total counter\ncachedash_cache_corrupt_entries_total 1\n",
        "# TYPE cachedash_cache_revalidations_total counter\ncachedash_cache_revalidations_total 0\n",
    };
    for (const QByteArray &piece : expected)
        QVERIFY2(text.contains(piece), piece.constData());
    QCOMPARE(text.count("# HELP "), 5);
}

QTEST_GUILESS_MAIN(tst_ReportCache)
#include "tst_reportcache.moc"
