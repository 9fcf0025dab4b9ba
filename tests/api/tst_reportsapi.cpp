// SPDX-License-Identifier: GPL-3.0-or-later
#include "api/reportsapi.h"
#include "cache/reportsource.h"
#include "redis/redisrouter.h"
#include "testlib/rawconnection.h"
#include "testlib/testcertificates.h"
#include "testlib/testhttp.h"
#include "testlib/testredisserver.h"
#include "testlib/testservice.h"
#include "testlib/testserviceoptions.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTest>

#include <memory>

#include <sys/resource.h>

using namespace std::chrono_literals;
using namespace Cachedash;
using Cachedash::Test::HeaderList;
using Cachedash::Test::HttpResult;
using Cachedash::Test::RawConnection;
using Cachedash::Test::TestCertificates;
using Cachedash::Test::TestHttp;
using Cachedash::Test::TestRedisServer;
using Cachedash::Test::TestService;

namespace {
// Requests carry X-Forwarded-For from a trusted 127.0.0.1, so each test picks its own client and
// the limiter's windows do not mix.
HeaderList from(const QByteArray &client)
{
    return {{QByteArrayLiteral("X-Forwarded-For"), client}};
}

QByteArray closing(const QString &path, const QByteArray &client)
{
    return TestHttp::getRequest(path, {{"X-Forwarded-For", client}, {"Connection", "close"}});
}
} // namespace

class tst_ReportsApi : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void seedWalkthrough();
    void concurrentRequestsAdmitExactlyTheLimit();
    void exemptClientsAreNeitherLimitedNorCounted();
    void peekSpendsNothingAndResetForgets();
    void rateLimitRoutesRefuseBadClientsAndMethods();
    void adminTokenGuardsRateLimitRoutes();
    void waitingRetryAfterIsEnough();
    void headers();
    void badInput_data();
    void badInput();
    void unicodeRegion();
    void missesOverlap();
    void oneRoundTripForCachedGet_data();
    void oneRoundTripForCachedGet();
    void pipelinedAnswersComeInOrder();
    void pipelinedAnswersAreNotHeldBack();
    void clientLeavesDuringMiss();
    void healthFollowsRedis();
    void redisDownBypassesTheCache();
    void metricsMoveWithTraffic();
    void adminTokenGuardsRefresh();
    void limiterPrecisionUnderLoad();
    void untrustedForwardedForIsIgnored();

private:
    ServiceOptions defaults() const;

    TestCertificates m_certs;
    TestRedisServer m_redis; // plain, and TLS on m_tlsPort
    quint16 m_tlsPort = 0;
    TestService m_service;
    std::unique_ptr<TestHttp> m_http;
};

void tst_ReportsApi::initTestCase()
{
    QVERIFY2(m_certs.create(), qPrintable(m_certs.errorString()));
    m_tlsPort = TestRedisServer::freeLoopbackPort();
    QVERIFY2(m_redis.start(m_certs.redisServerArgs(m_tlsPort)), qPrintable(m_redis.errorString()));
}

ServiceOptions tst_ReportsApi::defaults() const
{
    return Cachedash::Test::testServiceOptions(m_redis);
}

void tst_ReportsApi::init()
{
    if (!m_redis.isRunning())
        QVERIFY2(m_redis.restart(), qPrintable(m_redis.errorString()));
    QCOMPARE(m_redis.command({"FLUSHALL"}), QByteArray("OK"));
    QVERIFY2(m_service.start(defaults()), qPrintable(m_service.errorString()));
    m_http = std::make_unique<TestHttp>(m_service.baseUrl());
}

void tst_ReportsApi::cleanup()
{
    m_http.reset();
    m_service.stop();
}

void tst_ReportsApi::seedWalkthrough()
{
    ServiceOptions options = defaults();
    options.reportDelay = 1500ms; // the seed's own figure
    QVERIFY2(m_service.start(options), qPrintable(m_service.errorString()));
    TestHttp http{m_service.baseUrl()};
    const HeaderList me = from("198.51.100.10");

    // 1. First call: a miss, about 1.5 s, cached false.
    const HttpResult miss = http.get(QStringLiteral("/reports/emea"), me);
    QCOMPARE(miss.status, 200);
    QCOMPARE(miss.header("content-type"), QByteArray("application/json"));
    QVERIFY2(miss.elapsedMs >= 1400, qPrintable(QString::number(miss.elapsedMs)));
    const QJsonObject first = miss.json();
    QCOMPARE(first.value(QLatin1String("region")).toString(), QStringLiteral("emea"));
    QCOMPARE(first.value(QLatin1String("total_sales")).toDouble(), 4938.24);
    QCOMPARE(first.value(QLatin1String("cached")).toBool(), false);
    const QString generatedAt = first.value(QLatin1String("generated_at")).toString();
    QVERIFY2(generatedAt.endsWith(QStringLiteral("+00:00")), qPrintable(generatedAt));
    QVERIFY(QDateTime::fromString(generatedAt, Qt::ISODateWithMs).isValid());

    // 2. Second call: a hit, fast, cached true, same report.
    const HttpResult hit = http.get(QStringLiteral("/reports/emea"), me);
    QCOMPARE(hit.status, 200);
    QVERIFY2(hit.elapsedMs < 500, qPrintable(QString::number(hit.elapsedMs)));
    QCOMPARE(hit.json().value(QLatin1String("cached")).toBool(), true);
    QCOMPARE(hit.json().value(QLatin1String("generated_at")).toString(), generatedAt);

    // 3. The key and its TTL, straight from Redis.
    const QByteArray stored = m_redis.command({"GET", "report:emea"});
    QCOMPARE(QJsonDocument::fromJson(stored).object().value(QLatin1String("generated_at")).toString(),
        generatedAt);
    QCOMPARE(QJsonDocument::fromJson(stored).object().value(QLatin1String("cached")).toBool(true), false);
    const int ttl = m_redis.command({"TTL", "report:emea"}).toInt();
    QVERIFY2(ttl >= 28 && ttl <= 30, qPrintable(QString::number(ttl)));

    // 4. Refresh invalidates; the next read is a slow miss again.
    const HttpResult refresh = http.post(QStringLiteral("/reports/emea/refresh"), me);
    QCOMPARE(refresh.status, 200);
    QCOMPARE(refresh.body, QByteArray("{\"invalidated\":true}"));
    QCOMPARE(m_redis.command({"EXISTS", "report:emea"}), QByteArray("0"));
    QCOMPARE(
        http.post(QStringLiteral("/reports/emea/refresh"), me).body, QByteArray("{\"invalidated\":false}"));
    const HttpResult again = http.get(QStringLiteral("/reports/emea"), me);
    QVERIFY(again.elapsedMs >= 1400);
    QCOMPARE(again.json().value(QLatin1String("cached")).toBool(), false);

    // 5. The limiter: 5 per 10 s, then 429 with an honest Retry-After.
    const HeaderList burst = from("198.51.100.11");
    QList<int> statuses;
    for (int i = 0; i < 7; ++i) {
        const HttpResult r = http.get(QStringLiteral("/reports/apac"), burst);
        statuses << r.status;
        if (r.status == 429) {
            QCOMPARE(
                r.json().value(QLatin1String("detail")).toString(), QStringLiteral("Rate limit exceeded"));
            const int retryAfter = r.header("retry-after").toInt();
            QVERIFY2(retryAfter >= 1 && retryAfter <= 10, r.header("retry-after").constData());
        }
    }
    QCOMPARE(statuses, (QList<int>{200, 200, 200, 200, 200, 429, 429}));
}

void tst_ReportsApi::concurrentRequestsAdmitExactlyTheLimit()
{
    QCOMPARE(m_http->get(QStringLiteral("/reports/conc"), from("198.51.100.99")).status, 200);
    QList<QByteArray> requests;
    for (int i = 0; i < 30; ++i)
        requests << closing(QStringLiteral("/reports/conc"), "198.51.100.20");
    const QList<HttpResult> results = m_http->concurrentRaw(requests);
    int ok = 0;
    int limited = 0;
    for (const HttpResult &r : results) {
        ok += r.status == 200;
        limited += r.status == 429;
    }
    QCOMPARE(ok, 5);
    QCOMPARE(limited, 25);
    QCOMPARE(m_redis.command({"ZCARD", "rate:sliding:198.51.100.20"}), QByteArray("5"));
    const int pttl = m_redis.command({"PTTL", "rate:sliding:198.51.100.20"}).toInt();
    QVERIFY2(pttl > 8000 && pttl <= 10000, qPrintable(QString::number(pttl)));
}

void tst_ReportsApi::waitingRetryAfterIsEnough()
{
    ServiceOptions options = defaults();
    options.rateLimits.limits = {{2, 2s}};
    QVERIFY2(m_service.start(options), qPrintable(m_service.errorString()));
    TestHttp http{m_service.baseUrl()};
    const HeaderList me = from("198.51.100.30");
    QCOMPARE(http.get(QStringLiteral("/livez")).status, 200);
    QCOMPARE(http.get(QStringLiteral("/reports/wait"), me).status, 200);
    QCOMPARE(http.get(QStringLiteral("/reports/wait"), me).status, 200);
    const HttpResult limited = http.get(QStringLiteral("/reports/wait"), me);
    QCOMPARE(limited.status, 429);
    const int retryAfter = limited.header("retry-after").toInt();
    QVERIFY2(retryAfter >= 1 && retryAfter <= 2, limited.header("retry-after").constData());
    QCOMPARE(limited.header("ratelimit-remaining"), QByteArray("0"));
    QCOMPARE(limited.header("ratelimit-reset"), limited.header("retry-after"));
    QTest::qWait(retryAfter * 1000);
    QCOMPARE(http.get(QStringLiteral("/reports/wait"), me).status, 200);
}

void tst_ReportsApi::headers()
{
    const HeaderList me = from("198.51.100.40");
    const HttpResult miss = m_http->get(QStringLiteral("/reports/hdr"), me);
    QCOMPARE(miss.status, 200);
    QCOMPARE(miss.header("x-cache"), QByteArray("MISS"));
    QCOMPARE(miss.header("cache-control"), QByteArray("max-age=30"));
    QCOMPARE(miss.header("age"), QByteArray("0"));
    QCOMPARE(miss.header("ratelimit-limit"), QByteArray("5"));
    QCOMPARE(miss.header("ratelimit-remaining"), QByteArray("4"));
    QCOMPARE(miss.header("ratelimit-reset"), QByteArray("10"));
    QCOMPARE(miss.header("ratelimit-policy"), QByteArray("5;w=10"));
    const QByteArray etag = miss.header("etag");
    QVERIFY2(etag.size() > 8 && etag.startsWith('"') && etag.endsWith('"'), etag.constData());

    const HttpResult hit = m_http->get(QStringLiteral("/reports/hdr"), me);
    QCOMPARE(hit.header("x-cache"), QByteArray("HIT"));
    QCOMPARE(hit.header("etag"), etag);
    QCOMPARE(hit.header("ratelimit-remaining"), QByteArray("3"));
    const QByteArray maxAge = hit.header("cache-control");
    QVERIFY2(maxAge == "max-age=29" || maxAge == "max-age=30", maxAge.constData());
    QVERIFY(hit.header("age").toInt() <= 1);

    const HttpResult notModified = m_http->get(
        QStringLiteral("/reports/hdr"), {{"X-Forwarded-For", "198.51.100.40"}, {"If-None-Match", etag}});
    QCOMPARE(notModified.status, 304);
    QVERIFY(notModified.body.isEmpty());
    QCOMPARE(notModified.header("etag"), etag);
    QCOMPARE(notModified.header("x-cache"), QByteArray("HIT"));
    QCOMPARE(notModified.header("ratelimit-remaining"), QByteArray("2"));

    const HttpResult otherTag = m_http->get(QStringLiteral("/reports/hdr"),
        {{"X-Forwarded-For", "198.51.100.40"}, {"If-None-Match", "\"nope\""}});
    QCOMPARE(otherTag.status, 200);
}

void tst_ReportsApi::badInput_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QByteArray>("path");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("mentions");
    QTest::addColumn<QByteArray>("allow");

    QTest::newRow("space") << QByteArray("GET") << QByteArray("/reports/em%20ea") << 422 << "U+0020"
                           << QByteArray();
    QTest::newRow("encoded slash") << QByteArray("GET") << QByteArray("/reports/a%2Fb") << 422 << "'/'"
                                   << QByteArray();
    QTest::newRow("nul") << QByteArray("GET") << QByteArray("/reports/x%00") << 422 << "U+0000"
                         << QByteArray();
    QTest::newRow("invalid utf-8") << QByteArray("GET") << QByteArray("/reports/%FF%FE") << 422 << "UTF-8"
                                   << QByteArray();
    QTest::newRow("redis glob") << QByteArray("GET") << QByteArray("/reports/*") << 422 << "'*'"
                                << QByteArray();
    QTest::newRow("too long") << QByteArray("GET") << QByteArray("/reports/" + QByteArray(65, 'a')) << 422
                              << "longer than 64" << QByteArray();
    QTest::newRow("empty region") << QByteArray("GET") << QByteArray("/reports/") << 422 << "empty"
                                  << QByteArray();
    QTest::newRow("refresh bad region")
        << QByteArray("POST") << QByteArray("/reports/a:b/refresh") << 422 << "':'" << QByteArray();
    QTest::newRow("unknown route") << QByteArray("GET") << QByteArray("/nope") << 404 << "no such resource"
                                   << QByteArray();
    QTest::newRow("extra segment") << QByteArray("GET") << QByteArray("/reports/emea/extra") << 404
                                   << "no such resource" << QByteArray();
    QTest::newRow("delete a report") << QByteArray("DELETE") << QByteArray("/reports/emea") << 405 << "DELETE"
                                     << QByteArray("GET, HEAD");
    QTest::newRow("get refresh") << QByteArray("GET") << QByteArray("/reports/emea/refresh") << 405
                                 << "use POST" << QByteArray("POST");
    QTest::newRow("post livez") << QByteArray("POST") << QByteArray("/livez") << 405 << "POST"
                                << QByteArray("GET, HEAD");
}

void tst_ReportsApi::badInput()
{
    QFETCH(QByteArray, method);
    QFETCH(QByteArray, path);
    QFETCH(int, status);
    QFETCH(QString, mentions);
    QFETCH(QByteArray, allow);
    const QByteArray request
        = method + ' ' + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const QList<HttpResult> answers = m_http->rawOnOneConnection(request, 1);
    QCOMPARE(answers.size(), 1);
    const HttpResult &r = answers.first();
    QCOMPARE(r.status, status);
    QCOMPARE(r.header("content-type"), QByteArray("application/json"));
    const QString detail = r.json().value(QLatin1String("detail")).toString();
    QVERIFY2(detail.contains(mentions), qPrintable(detail));
    QCOMPARE(r.header("allow"), allow);
    // Nothing reached Redis: no key, not even the limiter's.
    QCOMPARE(m_redis.command({"DBSIZE"}), QByteArray("0"));
    // And the server is still there.
    QCOMPARE(m_http->get(QStringLiteral("/livez")).status, 200);
}

void tst_ReportsApi::unicodeRegion()
{
    const HttpResult r = m_http->get(QStringLiteral("/reports/z%C3%BCrich"), from("198.51.100.50"));
    QCOMPARE(r.status, 200);
    QCOMPARE(r.json().value(QLatin1String("region")).toString(), QStringLiteral("zürich"));
    QCOMPARE(r.json().value(QLatin1String("total_sales")).toDouble(), 7407.36);
    QCOMPARE(m_redis.command({"EXISTS", QStringLiteral("report:zürich").toUtf8()}), QByteArray("1"));

    // A letter outside the Basic Multilingual Plane (U+20000): stored and served intact, so the
    // second request is a hit.
    const QString wide = QString::fromUtf8("\xf0\xa0\x80\x80");
    const HttpResult miss = m_http->get(QStringLiteral("/reports/%F0%A0%80%80"), from("198.51.100.51"));
    QCOMPARE(miss.status, 200);
    QCOMPARE(miss.header("x-cache"), QByteArray("MISS"));
    QCOMPARE(miss.json().value(QLatin1String("region")).toString(), wide);
    const HttpResult hit = m_http->get(QStringLiteral("/reports/%F0%A0%80%80"), from("198.51.100.51"));
    QCOMPARE(hit.header("x-cache"), QByteArray("HIT"));
    QCOMPARE(hit.json().value(QLatin1String("region")).toString(), wide);
    QCOMPARE(m_redis.command({"GET", "report:" + wide.toUtf8()}).left(16),
        QByteArray("{\"region\":\"\xf0\xa0\x80\x80\""));
}

void tst_ReportsApi::missesOverlap()
{
    QList<QByteArray> requests;
    for (int i = 0; i < 10; ++i)
        requests << closing(
            QStringLiteral("/reports/overlap%1").arg(i), "198.51.100." + QByteArray::number(60 + i));
    QElapsedTimer timer;
    timer.start();
    const QList<HttpResult> results = m_http->concurrentRaw(requests);
    const qint64 took = timer.elapsed();
    for (const HttpResult &r : results) {
        QCOMPARE(r.status, 200);
        QCOMPARE(r.header("x-cache"), QByteArray("MISS"));
    }
    // Ten 200 ms computations one after another would take 2 s.
    QVERIFY2(took >= 190 && took < 1000, qPrintable(QString::number(took)));
    QCOMPARE(m_service->source().computations(), 10u);
}

void tst_ReportsApi::oneRoundTripForCachedGet_data()
{
    QTest::addColumn<bool>("tls");
    QTest::newRow("plain TCP") << false;
    QTest::newRow("TLS") << true;
}

void tst_ReportsApi::oneRoundTripForCachedGet()
{
    QFETCH(bool, tls);
    if (tls) {
        ServiceOptions options = defaults();
        options.redisUrl = RedisUrl::parse(QStringLiteral("rediss://localhost:%1").arg(m_tlsPort)).value();
        options.redisTls.caCertFile = m_certs.caCert();
        QVERIFY2(m_service.start(options), qPrintable(m_service.errorString()));
        m_http = std::make_unique<TestHttp>(m_service.baseUrl());
        QVERIFY(m_service->redis().transport().startsWith(QLatin1String("TLS")));
    }
    const HeaderList me = from("198.51.100.70");
    QCOMPARE(m_http->get(QStringLiteral("/reports/rtt"), me).status, 200);
    QCOMPARE(m_redis.command({"CONFIG", "RESETSTAT"}), QByteArray("OK"));
    const auto before = m_service->redis().clientStats();
    const HttpResult hit = m_http->get(QStringLiteral("/reports/rtt"), me);
    QCOMPARE(hit.header("x-cache"), QByteArray("HIT"));
    const auto after = m_service->redis().clientStats();
    // One write to Redis carried everything the request needed...
    QCOMPARE(after.writeEvents - before.writeEvents, 1u);
    // ...and that was the limiter by EVALSHA (no script text) plus the cache read.
    QCOMPARE(m_redis.commandCalls("evalsha"), 1);
    QCOMPARE(m_redis.commandCalls("eval"), 0);
    QCOMPARE(m_redis.commandCalls("get"), 1);
    QCOMPARE(m_redis.commandCalls("pttl"), 1);
    QCOMPARE(after.commands - before.commands, 3u);
}

void tst_ReportsApi::pipelinedAnswersComeInOrder()
{
    const QByteArray bytes
        = TestHttp::getRequest(QStringLiteral("/reports/slowfirst"), {{"X-Forwarded-For", "198.51.100.80"}})
        + TestHttp::getRequest(QStringLiteral("/livez"))
        + TestHttp::getRequest(QStringLiteral("/reports/bad%20region"));
    const QList<HttpResult> answers = m_http->rawOnOneConnection(bytes, 3);
    QCOMPARE(answers.size(), 3);
    QCOMPARE(answers[0].status, 200);
    QCOMPARE(answers[0].json().value(QLatin1String("region")).toString(), QStringLiteral("slowfirst"));
    QCOMPARE(answers[1].status, 200);
    QCOMPARE(answers[1].body, QByteArray("{\"status\":\"ok\"}"));
    QCOMPARE(answers[2].status, 422);
}

void tst_ReportsApi::pipelinedAnswersAreNotHeldBack()
{
    // A hit and /livez, pipelined: /livez is ready first and waits for the hit, then the two
    // answers leave back to back. With Nagle's algorithm on, the second would wait until the
    // client acknowledged the first, which a client may delay by 40 ms: ten rounds, 400 ms.
    QCOMPARE(m_http->get(QStringLiteral("/reports/nagle"), from("198.51.100.76")).status, 200);
    RawConnection connection(m_service->port());
    QVERIFY(connection.waitForConnected());
    QElapsedTimer timer;
    timer.start();
    for (int i = 0; i < 10; ++i) {
        connection.write(TestHttp::getRequest(QStringLiteral("/reports/nagle"),
                             {{"X-Forwarded-For", "198.51.100." + QByteArray::number(100 + i)}})
            + TestHttp::getRequest(QStringLiteral("/livez")));
        const QList<HttpResult> answers = connection.waitForAnswers(2 * (i + 1), 2000);
        QCOMPARE(answers.size(), 2 * (i + 1));
        QCOMPARE(answers.at(2 * i).status, 200);
        QCOMPARE(answers.at(2 * i + 1).status, 200);
        QCOMPARE(answers.at(2 * i + 1).body, QByteArray("{\"status\":\"ok\"}"));
    }
    const qint64 took = timer.elapsed();
    qInfo("10 pipelined pairs in %lld ms", took);
    QVERIFY2(took < 300, qPrintable(QString::number(took)));
}

void tst_ReportsApi::clientLeavesDuringMiss()
{
    {
        RawConnection leaver(m_service->port());
        QVERIFY(leaver.waitForConnected());
        leaver.write(
            TestHttp::getRequest(QStringLiteral("/reports/leaver"), {{"X-Forwarded-For", "198.51.100.90"}}));
        QCOMPARE(leaver.socket().bytesToWrite(), qint64(0)); // the request has left
        // The client leaves while its miss is computing.
        QTRY_COMPARE(m_service->source().inFlight(), 1);
        QCOMPARE(m_service->api().inFlight(), 1);
        leaver.abort();
    }
    QTRY_COMPARE(m_service->api().inFlight(), 0);
    // The computation finished and was cached for the next reader; the server is fine.
    QCOMPARE(m_redis.command({"EXISTS", "report:leaver"}), QByteArray("1"));
    const HttpResult r = m_http->get(QStringLiteral("/reports/leaver"), from("198.51.100.91"));
    QCOMPARE(r.status, 200);
    QCOMPARE(r.header("x-cache"), QByteArray("HIT"));
}

void tst_ReportsApi::healthFollowsRedis()
{
    QCOMPARE(m_http->get(QStringLiteral("/livez")).status, 200);
    const HttpResult up = m_http->get(QStringLiteral("/healthz"));
    QCOMPARE(up.status, 200);
    QVERIFY2(up.body.startsWith("{\"status\":\"ok\",\"redis\":\"up\","), up.body.constData());
    QCOMPARE(up.json().value(QLatin1String("mode")).toString(), QStringLiteral("standalone"));
    const QJsonArray nodes = up.json().value(QLatin1String("nodes")).toArray();
    QCOMPARE(nodes.size(), 1);
    QCOMPARE(nodes.first().toObject().value(QLatin1String("up")).toBool(), true);
    m_redis.stop();
    const HttpResult down = m_http->get(QStringLiteral("/healthz"));
    QCOMPARE(down.status, 503);
    QCOMPARE(down.json().value(QLatin1String("redis")).toString(), QStringLiteral("down"));
    QVERIFY(!down.json().value(QLatin1String("detail")).toString().isEmpty());
    QCOMPARE(m_http->get(QStringLiteral("/livez")).status, 200);
    QVERIFY2(m_redis.restart(), qPrintable(m_redis.errorString()));
    QTRY_COMPARE_WITH_TIMEOUT(m_http->get(QStringLiteral("/healthz")).status, 200, 3000);
}

void tst_ReportsApi::redisDownBypassesTheCache()
{
    m_redis.stop();
    const HttpResult r = m_http->get(QStringLiteral("/reports/outage"), from("198.51.100.100"));
    QCOMPARE(r.status, 200);
    QCOMPARE(r.header("x-cache"), QByteArray("BYPASS"));
    QCOMPARE(r.json().value(QLatin1String("cached")).toBool(true), false);
    const HttpResult refresh
        = m_http->post(QStringLiteral("/reports/outage/refresh"), from("198.51.100.100"));
    QCOMPARE(refresh.status, 503);
    QCOMPARE(refresh.json().value(QLatin1String("invalidated")).toBool(true), false);
    QVERIFY(
        refresh.json().value(QLatin1String("detail")).toString().contains(QStringLiteral("not invalidated")));
}

void tst_ReportsApi::adminTokenGuardsRefresh()
{
    ServiceOptions options = defaults();
    options.adminToken = "correct-horse-battery-staple";
    QVERIFY2(m_service.start(options), qPrintable(m_service.errorString()));
    TestHttp http{m_service.baseUrl()};
    const HttpResult open = http.post(QStringLiteral("/reports/emea/refresh"));
    QCOMPARE(open.status, 401);
    QVERIFY(open.header("www-authenticate").startsWith("Bearer"));
    QVERIFY(open.json().value(QLatin1String("detail")).toString().contains(QStringLiteral("admin token")));
    const HttpResult wrong = http.post(
        QStringLiteral("/reports/emea/refresh"), {{"Authorization", "Bearer correct-horse-battery-stapler"}});
    QCOMPARE(wrong.status, 403);
    QCOMPARE(
        http.post(QStringLiteral("/reports/emea/refresh"), {{"Authorization", "Basic Zm9vOmJhcg=="}}).status,
        401);
    const HttpResult right = http.post(
        QStringLiteral("/reports/emea/refresh"), {{"Authorization", "Bearer correct-horse-battery-staple"}});
    QCOMPARE(right.status, 200);
    // Reading stays open.
    QCOMPARE(http.get(QStringLiteral("/reports/emea"), from("198.51.100.120")).status, 200);
}

void tst_ReportsApi::limiterPrecisionUnderLoad()
{
    // Client and server sockets share this process: make room for 2 x 1,000 descriptors.
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    files.rlim_cur = std::min<rlim_t>(files.rlim_max, 8192);
    ::setrlimit(RLIMIT_NOFILE, &files);
    if (files.rlim_cur < 2500)
        QSKIP("this machine allows fewer than 2,500 open files per process");

    QCOMPARE(m_http->get(QStringLiteral("/reports/precise"), from("198.51.100.200")).status, 200); // warm
    // 200 concurrent requests from one client: exactly 5 admitted.
    QList<QByteArray> one;
    for (int i = 0; i < 200; ++i)
        one << closing(QStringLiteral("/reports/precise"), "198.51.100.201");
    int admitted = 0;
    for (const HttpResult &r : m_http->concurrentRaw(one, 20000))
        admitted += r.status == 200;
    QCOMPARE(admitted, 5);

    // 50 clients behind the trusted proxy, 20 concurrent requests each, all 1,000 at once:
    // exactly 5 each.
    QList<QByteArray> many;
    for (int i = 0; i < 20; ++i) {
        for (int c = 0; c < 50; ++c)
            many << closing(QStringLiteral("/reports/precise"), "203.0.113." + QByteArray::number(c + 1));
    }
    const QList<HttpResult> answers = m_http->concurrentRaw(many, 20000);
    QHash<int, int> perClient;
    int answered = 0;
    for (qsizetype i = 0; i < answers.size(); ++i) {
        answered += answers[i].status != 0;
        perClient[int(i % 50)] += answers[i].status == 200;
    }
    QCOMPARE(answered, 1000);
    for (int c = 0; c < 50; ++c)
        QCOMPARE(perClient.value(c), 5);
}

void tst_ReportsApi::untrustedForwardedForIsIgnored()
{
    ServiceOptions options = defaults();
    options.trustedProxies.clear();
    QVERIFY2(m_service.start(options), qPrintable(m_service.errorString()));
    TestHttp http{m_service.baseUrl()};
    QList<QByteArray> requests;
    for (int i = 0; i < 20; ++i)
        requests << closing(QStringLiteral("/reports/spoof"), "203.0.113." + QByteArray::number(i + 1));
    int admitted = 0;
    for (const HttpResult &r : http.concurrentRaw(requests))
        admitted += r.status == 200;
    // Every request is the peer's, 127.0.0.1, whatever the header claims.
    QCOMPARE(admitted, 5);
    QCOMPARE(m_redis.command({"ZCARD", "rate:sliding:127.0.0.1"}), QByteArray("5"));
    QCOMPARE(m_redis.command({"EXISTS", "rate:sliding:203.0.113.1"}), QByteArray("0"));
}

namespace {
// Parses the Prometheus text format strictly: every line is a comment or `name{labels} value`.
QHash<QString, double> parseMetrics(const QByteArray &text, bool *ok)
{
    static const QRegularExpression sample(
        QStringLiteral("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[^}]*\\})? (-?[0-9.eE+-]+|\\+Inf|NaN)$"));
    QHash<QString, double> values;
    *ok = true;
    for (const QByteArray &raw : text.split('\n')) {
        const QString line = QString::fromUtf8(raw);
        if (line.isEmpty() || line.startsWith(u'#'))
            continue;
        const QRegularExpressionMatch m = sample.match(line);
        if (!m.hasMatch()) {
            qWarning() << "not a sample line:" << line;
            *ok = false;
            continue;
        }
        values.insert(m.captured(1) + m.captured(2), m.captured(3).toDouble());
    }
    return values;
}
} // namespace

void tst_ReportsApi::metricsMoveWithTraffic()
{
    bool ok = false;
    const HttpResult first = m_http->get(QStringLiteral("/metrics"));
    QCOMPARE(first.status, 200);
    QVERIFY(first.header("content-type").startsWith("text/plain; version=0.0.4"));
    const QHash<QString, double> before = parseMetrics(first.body, &ok);
    QVERIFY(ok);
    QCOMPARE(before.value(QStringLiteral("cachedash_redis_up")), 1.0);

    const HeaderList me = from("198.51.100.110");
    for (int i = 0; i < 7; ++i)
        m_http->get(QStringLiteral("/reports/metered"), me);
    m_http->get(QStringLiteral("/nope"));
    const QHash<QString, double> after = parseMetrics(m_http->get(QStringLiteral("/metrics")).body, &ok);
    QVERIFY(ok);
    auto delta = [&](const char *name) {
        return after.value(QLatin1String(name)) - before.value(QLatin1String(name));
    };
    QCOMPARE(delta("cachedash_http_requests_total{route=\"reports\",status=\"200\"}"), 5.0);
    QCOMPARE(delta("cachedash_http_requests_total{route=\"reports\",status=\"429\"}"), 2.0);
    QCOMPARE(delta("cachedash_http_requests_total{route=\"other\",status=\"404\"}"), 1.0);
    QCOMPARE(delta("cachedash_cache_requests_total{outcome=\"miss\"}"), 1.0);
    QCOMPARE(delta("cachedash_cache_requests_total{outcome=\"hit\"}"), 4.0);
    QCOMPARE(delta("cachedash_cache_requests_total{outcome=\"limited\"}"), 2.0);
    QCOMPARE(delta("cachedash_report_computations_total"), 1.0);
    QCOMPARE(delta("cachedash_cache_writes_total"), 1.0);
    QCOMPARE(delta("cachedash_ratelimit_decisions_total{route=\"reports\",decision=\"allowed\"}"), 5.0);
    QCOMPARE(delta("cachedash_ratelimit_decisions_total{route=\"reports\",decision=\"limited\"}"), 2.0);
    QCOMPARE(delta("cachedash_http_request_duration_seconds_count{route=\"reports\"}"), 7.0);
    QCOMPARE(after.value(QStringLiteral("cachedash_report_computation_duration_seconds_bucket{le=\"+Inf\"}")),
        after.value(QStringLiteral("cachedash_report_computation_duration_seconds_count")));
    QVERIFY(after.value(QStringLiteral("cachedash_report_computation_duration_seconds_sum")) >= 0.19);
    QVERIFY(delta("cachedash_redis_commands_total") >= 7 * 3);
    QVERIFY(after.value(QStringLiteral("cachedash_redis_command_duration_seconds_count")) > 0);
}

void tst_ReportsApi::exemptClientsAreNeitherLimitedNorCounted()
{
    ServiceOptions options = defaults();
    options.rateLimitExempt = {QStringLiteral("198.51.100.128/25"), QStringLiteral("2001:db8::1")};
    QVERIFY2(m_service.start(options), qPrintable(m_service.errorString()));
    TestHttp http{m_service.baseUrl()};
    bool ok = false;
    const QHash<QString, double> before = parseMetrics(http.get(QStringLiteral("/metrics")).body, &ok);
    QVERIFY(ok);
    for (const QByteArray &client : {QByteArrayLiteral("198.51.100.200"), QByteArrayLiteral("2001:db8::1")}) {
        for (int i = 0; i < 8; ++i) {
            const HttpResult r = http.get(QStringLiteral("/reports/exempt"), from(client));
            QCOMPARE(r.status, 200);
            // No limit applies, so none is announced.
            QVERIFY(r.header("ratelimit-limit").isEmpty());
            QVERIFY(r.header("ratelimit-policy").isEmpty());
        }
        QCOMPARE(m_redis.command({"EXISTS", "rate:sliding:" + client}), QByteArray("0"));
    }
    // Beside them, the limit holds for everyone else.
    for (int i = 0; i < 5; ++i)
        QCOMPARE(http.get(QStringLiteral("/reports/exempt"), from("198.51.100.127")).status, 200);
    QCOMPARE(http.get(QStringLiteral("/reports/exempt"), from("198.51.100.127")).status, 429);
    const QHash<QString, double> after = parseMetrics(http.get(QStringLiteral("/metrics")).body, &ok);
    QVERIFY(ok);
    const QString exempt
        = QStringLiteral("cachedash_ratelimit_decisions_total{route=\"reports\",decision=\"exempt\"}");
    QCOMPARE(after.value(exempt) - before.value(exempt), 16.0);
}

void tst_ReportsApi::peekSpendsNothingAndResetForgets()
{
    const HeaderList me = from("198.51.100.80");
    for (int i = 0; i < 3; ++i)
        QCOMPARE(m_http->get(QStringLiteral("/reports/peek"), me).status, 200);
    for (int twice = 0; twice < 2; ++twice) {
        const HttpResult peek = m_http->get(QStringLiteral("/ratelimit/198.51.100.80"));
        QCOMPARE(peek.status, 200);
        const QJsonObject state = peek.json();
        QCOMPARE(state.value(QLatin1String("client")).toString(), QStringLiteral("198.51.100.80"));
        QCOMPARE(state.value(QLatin1String("key")).toString(), QStringLiteral("rate:sliding:198.51.100.80"));
        QCOMPARE(state.value(QLatin1String("algorithm")).toString(), QStringLiteral("sliding-log"));
        QCOMPARE(state.value(QLatin1String("exempt")).toBool(), false);
        const QJsonArray limits = state.value(QLatin1String("limits")).toArray();
        QCOMPARE(limits.size(), 1);
        const QJsonObject limit = limits.first().toObject();
        QCOMPARE(limit.value(QLatin1String("limit")).toInt(), 5);
        QCOMPARE(limit.value(QLatin1String("window")).toInt(), 10);
        QCOMPARE(limit.value(QLatin1String("used")).toInt(), 3);
        QCOMPARE(limit.value(QLatin1String("remaining")).toInt(), 2);
        const int nextSlot = limit.value(QLatin1String("next_slot_ms")).toInt();
        QVERIFY2(nextSlot > 0 && nextSlot <= 10000, qPrintable(QString::number(nextSlot)));
        QCOMPARE(limit.value(QLatin1String("reset")).toInt(), (nextSlot + 999) / 1000);
    }
    // Reading spent nothing: still three entries, and two more requests are admitted.
    QCOMPARE(m_redis.command({"ZCARD", "rate:sliding:198.51.100.80"}), QByteArray("3"));
    QCOMPARE(m_http->get(QStringLiteral("/reports/peek"), me).status, 200);
    QCOMPARE(m_http->get(QStringLiteral("/reports/peek"), me).status, 200);
    QCOMPARE(m_http->get(QStringLiteral("/reports/peek"), me).status, 429);

    const HttpResult reset = m_http->send("DELETE", QStringLiteral("/ratelimit/198.51.100.80"));
    QCOMPARE(reset.status, 200);
    QCOMPARE(reset.json().value(QLatin1String("existed")).toBool(), true);
    QCOMPARE(m_redis.command({"EXISTS", "rate:sliding:198.51.100.80"}), QByteArray("0"));
    const HttpResult again = m_http->get(QStringLiteral("/reports/peek"), me);
    QCOMPARE(again.status, 200);
    QCOMPARE(again.header("ratelimit-remaining"), QByteArray("4"));
    // A client with no window: nothing used, nothing to forget.
    const QJsonObject fresh = m_http->get(QStringLiteral("/ratelimit/203.0.113.9")).json();
    QCOMPARE(fresh.value(QLatin1String("limits"))
                 .toArray()
                 .first()
                 .toObject()
                 .value(QLatin1String("used"))
                 .toInt(),
        0);
    QCOMPARE(m_http->send("DELETE", QStringLiteral("/ratelimit/203.0.113.9"))
                 .json()
                 .value(QLatin1String("existed"))
                 .toBool(),
        false);
}

void tst_ReportsApi::rateLimitRoutesRefuseBadClientsAndMethods()
{
    for (const char *bad : {"not-an-address", "198.51.100.300", "fe80::1%25eth0", "%00"}) {
        const HttpResult r = m_http->get(QStringLiteral("/ratelimit/") + QLatin1String(bad));
        QCOMPARE(r.status, 422);
        QVERIFY2(r.json().value(QLatin1String("detail")).toString().contains(QLatin1String("IPv4 or IPv6")),
            r.body.constData());
    }
    // An address is written as the limiter writes it.
    QCOMPARE(m_http->get(QStringLiteral("/ratelimit/%3A%3Affff%3A198.51.100.81"))
                 .json()
                 .value(QLatin1String("client"))
                 .toString(),
        QStringLiteral("198.51.100.81"));
    QCOMPARE(m_http->get(QStringLiteral("/ratelimit/2001:0db8:0:0::1"))
                 .json()
                 .value(QLatin1String("client"))
                 .toString(),
        QStringLiteral("2001:db8::1"));
    const HttpResult post = m_http->post(QStringLiteral("/ratelimit/198.51.100.81"));
    QCOMPARE(post.status, 405);
    QCOMPARE(post.header("allow"), QByteArray("GET, HEAD, DELETE"));
}

void tst_ReportsApi::adminTokenGuardsRateLimitRoutes()
{
    ServiceOptions options = defaults();
    options.adminToken = "correct-horse-battery-staple";
    QVERIFY2(m_service.start(options), qPrintable(m_service.errorString()));
    TestHttp http{m_service.baseUrl()};
    for (const QByteArray &method : {QByteArrayLiteral("GET"), QByteArrayLiteral("DELETE")}) {
        QCOMPARE(http.send(method, QStringLiteral("/ratelimit/198.51.100.82")).status, 401);
        QCOMPARE(http.send(method, QStringLiteral("/ratelimit/198.51.100.82"),
                         {{"Authorization", "Bearer correct-horse-battery-stapler"}})
                     .status,
            403);
        QCOMPARE(http.send(method, QStringLiteral("/ratelimit/198.51.100.82"),
                         {{"Authorization", "Bearer correct-horse-battery-staple"}})
                     .status,
            200);
    }
}

QTEST_GUILESS_MAIN(tst_ReportsApi)
#include "tst_reportsapi.moc"
