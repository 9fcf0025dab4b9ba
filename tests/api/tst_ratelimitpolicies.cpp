// SPDX-License-Identifier: GPL-3.0-or-later
// The rate-limit policies over HTTP: stacked limits and their headers, the three algorithms under
// concurrency, shadow mode, the refresh route's own limits, and peek and reset per algorithm.
#include "ratelimit/ratelimitpolicy.h"
#include "testlib/testhttp.h"
#include "testlib/testredisserver.h"
#include "testlib/testservice.h"
#include "testlib/testserviceoptions.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTest>

using namespace std::chrono_literals;
using namespace Cachedash;
using Cachedash::Test::HeaderList;
using Cachedash::Test::HttpResult;
using Cachedash::Test::TestHttp;
using Cachedash::Test::TestRedisServer;
using Cachedash::Test::TestService;

Q_DECLARE_METATYPE(Cachedash::RateAlgorithm)

namespace {
// Requests carry X-Forwarded-For from a trusted 127.0.0.1, so each test picks its own client.
HeaderList from(const QByteArray &client)
{
    return {{QByteArrayLiteral("X-Forwarded-For"), client}};
}

double metric(TestHttp &http, const QString &sample)
{
    const QByteArray text = http.get(QStringLiteral("/metrics")).body;
    const QByteArray prefix = sample.toUtf8() + ' ';
    for (const QByteArray &line : text.split('\n')) {
        if (line.startsWith(prefix))
            return line.mid(prefix.size()).toDouble();
    }
    return -1;
}
} // namespace

class tst_RateLimitPolicies : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void stackedLimitsSpeakForTheBindingOne();
    void concurrentRequestsAdmitExactlyN_data();
    void concurrentRequestsAdmitExactlyN();
    void shadowModeRefusesNothingAndSaysWhat();
    void refreshHasItsOwnLimits();
    void peekAndResetUnderEachAlgorithm_data();
    void peekAndResetUnderEachAlgorithm();

private:
    bool start(const RateLimitPolicy &policy, const QList<RateLimit> &refresh = {});

    TestRedisServer m_redis;
    TestService m_service;
    std::unique_ptr<TestHttp> m_http;
};

void tst_RateLimitPolicies::initTestCase()
{
    QVERIFY2(m_redis.start(), qPrintable(m_redis.errorString()));
}

void tst_RateLimitPolicies::init()
{
    QCOMPARE(m_redis.command({"FLUSHALL"}), QByteArray("OK"));
}

void tst_RateLimitPolicies::cleanup()
{
    m_http.reset();
    m_service.stop();
}

bool tst_RateLimitPolicies::start(const RateLimitPolicy &policy, const QList<RateLimit> &refresh)
{
    ServiceOptions options = Cachedash::Test::testServiceOptions(m_redis);
    options.rateLimits = policy;
    options.refreshRateLimits = refresh;
    if (!m_service.start(options))
        return false;
    m_http = std::make_unique<TestHttp>(m_service.baseUrl());
    return true;
}

void tst_RateLimitPolicies::stackedLimitsSpeakForTheBindingOne()
{
    // 3 per 10 s and 4 per minute, exact (sliding log).
    QVERIFY2(start({{{3, 10s}, {4, 60s}}}), qPrintable(m_service.errorString()));
    const HeaderList me = from("198.51.100.1");
    const HttpResult first = m_http->get(QStringLiteral("/reports/stack"), me);
    QCOMPARE(first.status, 200);
    QCOMPARE(first.header("ratelimit-policy"), QByteArray("3;w=10, 4;w=60"));
    // The binding limit is the one with the fewest left: 3/10s has 2, 4/1m has 3.
    QCOMPARE(first.header("ratelimit-limit"), QByteArray("3"));
    QCOMPARE(first.header("ratelimit-remaining"), QByteArray("2"));
    QCOMPARE(m_http->get(QStringLiteral("/reports/stack"), me).status, 200);
    QCOMPARE(m_http->get(QStringLiteral("/reports/stack"), me).status, 200);
    const HttpResult refused = m_http->get(QStringLiteral("/reports/stack"), me);
    QCOMPARE(refused.status, 429);
    QCOMPARE(refused.header("ratelimit-limit"), QByteArray("3"));
    const int retry = refused.header("retry-after").toInt();
    QVERIFY2(retry >= 9 && retry <= 10, refused.header("retry-after").constData());
    // Nothing was recorded for the refused one, in either limit: three entries.
    QCOMPARE(m_redis.command({"ZCARD", "rate:sliding:198.51.100.1"}), QByteArray("3"));
    // Past the 10 s window, the minute binds: one more, then a wait of most of a minute.
    QCOMPARE(m_redis.command({"ZREMRANGEBYRANK", "rate:sliding:198.51.100.1", "0", "-1"}), QByteArray("3"));
    const QByteArray old = QByteArray::number(QDateTime::currentMSecsSinceEpoch() - 20'000);
    for (const char *member : {"a", "b", "c"})
        m_redis.command({"ZADD", "rate:sliding:198.51.100.1", old, member});
    const HttpResult fourth = m_http->get(QStringLiteral("/reports/stack"), me);
    QCOMPARE(fourth.status, 200);
    QCOMPARE(fourth.header("ratelimit-limit"), QByteArray("4"));
    QCOMPARE(fourth.header("ratelimit-remaining"), QByteArray("0"));
    const HttpResult fifth = m_http->get(QStringLiteral("/reports/stack"), me);
    QCOMPARE(fifth.status, 429);
    QCOMPARE(fifth.header("ratelimit-limit"), QByteArray("4"));
    const int minute = fifth.header("retry-after").toInt();
    QVERIFY2(minute >= 39 && minute <= 41, fifth.header("retry-after").constData());
}

void tst_RateLimitPolicies::concurrentRequestsAdmitExactlyN_data()
{
    QTest::addColumn<RateAlgorithm>("algorithm");
    QTest::addColumn<QList<RateLimit>>("limits");
    QTest::addColumn<int>("admitted");
    for (RateAlgorithm a :
        {RateAlgorithm::SlidingLog, RateAlgorithm::Gcra, RateAlgorithm::SlidingWindowCounter}) {
        const QByteArray name = algorithmName(a).toLatin1();
        QTest::newRow(QByteArray(name + " 7/10s").constData()) << a << QList<RateLimit>{{7, 10s}} << 7;
        QTest::newRow(QByteArray(name + " 9/10s + 6/1m").constData())
            << a << QList<RateLimit>{{9, 10s}, {6, 60s}} << 6;
    }
}

void tst_RateLimitPolicies::concurrentRequestsAdmitExactlyN()
{
    QFETCH(RateAlgorithm, algorithm);
    QFETCH(QList<RateLimit>, limits);
    QFETCH(int, admitted);
    QVERIFY2(start({limits, algorithm}), qPrintable(m_service.errorString()));
    // Warm the report, so every admitted request is a quick hit.
    QCOMPARE(m_http->get(QStringLiteral("/reports/conc"), from("203.0.113.250")).status, 200);
    QList<QByteArray> requests;
    for (int i = 0; i < 200; ++i)
        requests << TestHttp::getRequest(
            QStringLiteral("/reports/conc"), {{"X-Forwarded-For", "198.51.100.2"}, {"Connection", "close"}});
    int ok = 0;
    int limited = 0;
    for (const HttpResult &r : m_http->concurrentRaw(requests, 20000)) {
        ok += r.status == 200;
        limited += r.status == 429;
    }
    QCOMPARE(ok, admitted);
    QCOMPARE(limited, 200 - admitted);
}

void tst_RateLimitPolicies::shadowModeRefusesNothingAndSaysWhat()
{
    QVERIFY2(
        start({{{2, 10s}}, RateAlgorithm::Gcra, RateLimitMode::Shadow}), qPrintable(m_service.errorString()));
    const HeaderList me = from("198.51.100.3");
    QList<QByteArray> remaining;
    for (int i = 0; i < 4; ++i) {
        const HttpResult r = m_http->get(QStringLiteral("/reports/shadow"), me);
        QCOMPARE(r.status, 200);
        // The headers stay truthful; no Retry-After on a request that was served.
        remaining << r.header("ratelimit-remaining");
        QVERIFY(r.header("retry-after").isEmpty());
    }
    QCOMPARE(remaining, (QList<QByteArray>{"1", "0", "0", "0"}));
    // Counted apart, and counted as enforcement would: the shadowed ones are not recorded.
    QCOMPARE(
        metric(*m_http,
            QStringLiteral("cachedash_ratelimit_decisions_total{route=\"reports\",decision=\"shadowed\"}")),
        2.0);
    QCOMPARE(
        metric(*m_http,
            QStringLiteral("cachedash_ratelimit_decisions_total{route=\"reports\",decision=\"limited\"}")),
        0.0);
    QCOMPARE(
        metric(*m_http, QStringLiteral("cachedash_http_requests_total{route=\"reports\",status=\"200\"}")),
        5.0 - 1.0);
    QCOMPARE(metric(*m_http,
                 QStringLiteral("cachedash_ratelimit_limit{route=\"reports\",window=\"10\",algorithm="
                                "\"gcra\",mode=\"shadow\"}")),
        2.0);
}

void tst_RateLimitPolicies::refreshHasItsOwnLimits()
{
    QVERIFY2(start({{{5, 10s}}}, {{1, 10s}}), qPrintable(m_service.errorString()));
    const HeaderList me = from("198.51.100.4");
    const HttpResult first = m_http->post(QStringLiteral("/reports/fresh/refresh"), me);
    QCOMPARE(first.status, 200);
    QCOMPARE(first.header("ratelimit-policy"), QByteArray("1;w=10"));
    const HttpResult second = m_http->post(QStringLiteral("/reports/fresh/refresh"), me);
    QCOMPARE(second.status, 429);
    QVERIFY(second.header("retry-after").toInt() >= 9);
    QCOMPARE(m_redis.command({"ZCARD", "rate:refresh:sliding:198.51.100.4"}), QByteArray("1"));
    // The report route's limit is its own.
    const HttpResult get = m_http->get(QStringLiteral("/reports/fresh"), me);
    QCOMPARE(get.status, 200);
    QCOMPARE(get.header("ratelimit-remaining"), QByteArray("4"));
    QCOMPARE(get.header("ratelimit-policy"), QByteArray("5;w=10"));
}

void tst_RateLimitPolicies::peekAndResetUnderEachAlgorithm_data()
{
    QTest::addColumn<RateAlgorithm>("algorithm");
    QTest::addColumn<QStringList>("keys");
    QTest::addColumn<QStringList>("fields"); // what each algorithm keeps, in every limit's answer
    QTest::newRow("sliding-log") << RateAlgorithm::SlidingLog
                                 << QStringList{QStringLiteral("rate:sliding:198.51.100.5")}
                                 << QStringList{QStringLiteral("entries")};
    QTest::newRow("gcra") << RateAlgorithm::Gcra
                          << QStringList{QStringLiteral("rate:gcra:{198.51.100.5}:3/10s"),
                                 QStringLiteral("rate:gcra:{198.51.100.5}:10/1m")}
                          << QStringList{QStringLiteral("tat_ahead_ms"),
                                 QStringLiteral("emission_interval_ms"), QStringLiteral("tolerance_ms")};
    QTest::newRow("sliding-window-counter")
        << RateAlgorithm::SlidingWindowCounter
        << QStringList{QStringLiteral("rate:counter:{198.51.100.5}:3/10s"),
               QStringLiteral("rate:counter:{198.51.100.5}:10/1m")}
        << QStringList{QStringLiteral("current"), QStringLiteral("previous"), QStringLiteral("elapsed_ms"),
               QStringLiteral("estimate")};
}

void tst_RateLimitPolicies::peekAndResetUnderEachAlgorithm()
{
    QFETCH(RateAlgorithm, algorithm);
    QFETCH(QStringList, keys);
    QFETCH(QStringList, fields);
    QVERIFY2(start({{{3, 10s}, {10, 60s}}, algorithm}, {{2, 60s}}), qPrintable(m_service.errorString()));
    const HeaderList me = from("198.51.100.5");
    for (int i = 0; i < 2; ++i)
        QCOMPARE(m_http->get(QStringLiteral("/reports/peek"), me).status, 200);
    for (const QString &key : keys)
        QCOMPARE(m_redis.command({"EXISTS", key.toUtf8()}), QByteArray("1"));
    for (int twice = 0; twice < 2; ++twice) {
        const QJsonObject state = m_http->get(QStringLiteral("/ratelimit/198.51.100.5")).json();
        QCOMPARE(state.value(QLatin1String("algorithm")).toString(), algorithmName(algorithm));
        QCOMPARE(state.value(QLatin1String("key")).toString(), keys.first());
        const QJsonArray limits = state.value(QLatin1String("limits")).toArray();
        QCOMPARE(limits.size(), 3); // two on the report route, one on refresh
        const QJsonObject tenSeconds = limits[0].toObject();
        QCOMPARE(tenSeconds.value(QLatin1String("route")).toString(), QStringLiteral("reports"));
        QCOMPARE(tenSeconds.value(QLatin1String("limit")).toInt(), 3);
        QCOMPARE(tenSeconds.value(QLatin1String("used")).toInt(), 2);
        QCOMPARE(tenSeconds.value(QLatin1String("remaining")).toInt(), 1);
        QCOMPARE(tenSeconds.value(QLatin1String("retry_after_ms")).toInt(), 0);
        QVERIFY(tenSeconds.value(QLatin1String("next_slot_ms")).toInt() > 0);
        for (const QString &field : fields)
            QVERIFY2(tenSeconds.contains(field), qPrintable(field));
        QCOMPARE(limits[1].toObject().value(QLatin1String("used")).toInt(), 2);
        const QJsonObject refresh = limits[2].toObject();
        QCOMPARE(refresh.value(QLatin1String("route")).toString(), QStringLiteral("refresh"));
        QCOMPARE(refresh.value(QLatin1String("used")).toInt(), 0);
    }
    // Peeking spent nothing: one more is admitted, then the 10 s limit refuses.
    QCOMPARE(m_http->get(QStringLiteral("/reports/peek"), me).status, 200);
    QCOMPARE(m_http->get(QStringLiteral("/reports/peek"), me).status, 429);
    const QJsonObject full = m_http->get(QStringLiteral("/ratelimit/198.51.100.5")).json();
    QVERIFY(full.value(QLatin1String("limits"))
                .toArray()[0]
                .toObject()
                .value(QLatin1String("retry_after_ms"))
                .toInt()
        > 0);

    const HttpResult reset = m_http->send("DELETE", QStringLiteral("/ratelimit/198.51.100.5"));
    QCOMPARE(reset.status, 200);
    QCOMPARE(reset.json().value(QLatin1String("keys_deleted")).toInt(), keys.size());
    for (const QString &key : keys)
        QCOMPARE(m_redis.command({"EXISTS", key.toUtf8()}), QByteArray("0"));
    QCOMPARE(m_http->get(QStringLiteral("/reports/peek"), me).header("ratelimit-remaining"), QByteArray("2"));
}

QTEST_GUILESS_MAIN(tst_RateLimitPolicies)
#include "tst_ratelimitpolicies.moc"
