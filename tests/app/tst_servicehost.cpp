// SPDX-License-Identifier: GPL-3.0-or-later
#include "app/servicehost.h"
#include "testlib/testhttp.h"
#include "testlib/testredisserver.h"
#include "testlib/testserviceoptions.h"

#include <QElapsedTimer>
#include <QHostAddress>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>
#include <QUrl>

#include <memory>

using namespace std::chrono_literals;
using Cachedash::DashboardSnapshot;
using Cachedash::LiveSettings;
using Cachedash::Outcome;
using Cachedash::RateLimit;
using Cachedash::RedisUrl;
using Cachedash::RequestFeed;
using Cachedash::ServiceHost;
using Cachedash::ServiceOptions;
using Cachedash::Test::HttpResult;
using Cachedash::Test::TestHttp;
using Cachedash::Test::TestRedisServer;

namespace {

// A loopback port nothing listens on.
quint16 closedPort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort();
}

// Collects what the host's feed hands over, as the window does on its own clock.
class FeedReader
{
public:
    explicit FeedReader(RequestFeed &feed)
        : m_feed(feed)
    { }

    QList<RequestFeed::Event> events()
    {
        m_events += m_feed.take();
        return m_events;
    }
    // The events of one client, oldest first.
    QList<RequestFeed::Event> of(const QString &client)
    {
        QList<RequestFeed::Event> mine;
        for (const RequestFeed::Event &e : events()) {
            if (e.record.client == client)
                mine << e;
        }
        return mine;
    }
    int finishedOf(const QString &client)
    {
        int n = 0;
        for (const RequestFeed::Event &e : of(client))
            n += e.finished;
        return n;
    }

private:
    RequestFeed &m_feed;
    QList<RequestFeed::Event> m_events;
};

} // namespace

class tst_ServiceHost : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();

    void startsOnItsOwnThread();
    void requestsArriveThroughTheFeed_data();
    void requestsArriveThroughTheFeed();
    void snapshotsFollowTheWatchedRegion();
    void liveSettingsReachTheRunningService();
    void stopIsCleanAndIdempotent();
    void unreachableRedisFailsTheStart();

private:
    ServiceOptions options() const;

    TestRedisServer m_redis;
    std::unique_ptr<ServiceHost> m_host; // shared by the tests that only read
};

ServiceOptions tst_ServiceHost::options() const
{
    ServiceOptions o = Cachedash::Test::testServiceOptions(m_redis);
    o.reportDelay = 50ms;
    return o;
}

void tst_ServiceHost::initTestCase()
{
    QVERIFY2(m_redis.start(), qPrintable(m_redis.errorString()));
    m_host = std::make_unique<ServiceHost>(options());
    QString error;
    QVERIFY2(m_host->start(&error), qPrintable(error));
}

void tst_ServiceHost::cleanupTestCase()
{
    m_host.reset();
}

void tst_ServiceHost::startsOnItsOwnThread()
{
    const QUrl base(m_host->baseUrl());
    QCOMPARE(base.scheme(), QStringLiteral("http"));
    QCOMPARE(base.host(), QStringLiteral("127.0.0.1"));
    QVERIFY(base.port() > 0);
    QVERIFY2(m_host->redisUrl().startsWith(m_redis.url()), qPrintable(m_host->redisUrl()));
    QVERIFY(!m_host->usesPrivateRedis());

    // Answered while this thread blocks outside any event loop: the service runs elsewhere.
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, quint16(base.port()));
    QVERIFY(socket.waitForConnected(5000));
    socket.write("GET /livez HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    QVERIFY(socket.waitForBytesWritten(5000));
    QVERIFY(socket.waitForReadyRead(5000));
    QVERIFY(socket.readAll().startsWith("HTTP/1.1 200 OK\r\n"));
}

void tst_ServiceHost::requestsArriveThroughTheFeed_data()
{
    QTest::addColumn<QString>("client");
    QTest::addColumn<QStringList>("paths");
    QTest::addColumn<int>("status"); // of the last request
    QTest::addColumn<Outcome>("outcome");
    QTest::addColumn<bool>("announced"); // a "computing" event came first

    const QString emea = QStringLiteral("/reports/emea");
    QTest::newRow("miss") << QStringLiteral("10.0.0.1") << QStringList{QStringLiteral("/reports/amer")} << 200
                          << Outcome::Miss << true;
    QTest::newRow("hit") << QStringLiteral("10.0.0.2") << QStringList{emea, emea} << 200 << Outcome::Hit
                         << false;
    QTest::newRow("invalid region") << QStringLiteral("10.0.0.3")
                                    << QStringList{QStringLiteral("/reports/a:b")} << 422 << Outcome::Error
                                    << false;
    QTest::newRow("unknown path") << QStringLiteral("10.0.0.4") << QStringList{QStringLiteral("/nope")} << 404
                                  << Outcome::Error << false;
    QTest::newRow("health") << QStringLiteral("10.0.0.5") << QStringList{QStringLiteral("/healthz")} << 200
                            << Outcome::None << false;
    // The sixth request in the window of a limit of five.
    QTest::newRow("limited") << QStringLiteral("10.0.0.6") << QStringList{emea, emea, emea, emea, emea, emea}
                             << 429 << Outcome::Limited << false;
}

void tst_ServiceHost::requestsArriveThroughTheFeed()
{
    QFETCH(QString, client);
    QFETCH(QStringList, paths);
    QFETCH(int, status);
    QFETCH(Outcome, outcome);
    QFETCH(bool, announced);

    FeedReader feed(m_host->feed());
    TestHttp http{QUrl(m_host->baseUrl())};
    HttpResult last;
    for (const QString &path : std::as_const(paths))
        last = http.get(path, {{"X-Forwarded-For", client.toLatin1()}});
    QCOMPARE(last.status, status);

    // Announced once the answer is written, from the service's thread.
    QTRY_COMPARE(feed.finishedOf(client), int(paths.size()));
    const QList<RequestFeed::Event> events = feed.of(client);
    const RequestFeed::Event &final = events.last();
    QVERIFY(final.finished);
    QCOMPARE(final.record.status, status);
    QCOMPARE(final.record.outcome, outcome);
    QCOMPARE(final.record.method, QByteArray("GET"));
    QCOMPARE(final.record.path, paths.last());
    QVERIFY(final.record.startedMsSinceEpoch > 0);
    QVERIFY(final.record.latencyMs >= 0);
    if (outcome == Outcome::Miss)
        QVERIFY(final.record.latencyMs >= 50); // the computation's time
    if (outcome == Outcome::Limited)
        QVERIFY(final.record.retryAfterSeconds > 0);

    // A request that waits for a computation is announced first, with no status yet.
    QList<RequestFeed::Event> ofLast;
    for (const RequestFeed::Event &e : events) {
        if (e.record.id == final.record.id)
            ofLast << e;
    }
    QCOMPARE(ofLast.size(), announced ? 2 : 1);
    if (announced) {
        QVERIFY(!ofLast.first().finished);
        QCOMPARE(ofLast.first().record.status, 0);
        QCOMPARE(ofLast.first().record.path, paths.last());
    }
}

void tst_ServiceHost::snapshotsFollowTheWatchedRegion()
{
    TestHttp http{QUrl(m_host->baseUrl())};
    QCOMPARE(http.get(QStringLiteral("/reports/apac"), {{"X-Forwarded-For", "10.0.1.1"}}).status, 200);

    QSignalSpy snapshots(m_host.get(), &ServiceHost::snapshotReady);
    m_host->watch(QStringLiteral("apac"), QStringLiteral("10.0.1.1"));
    m_host->refreshSnapshot();
    auto watched = [&] {
        if (snapshots.isEmpty())
            return false;
        const auto s = snapshots.last().at(0).value<DashboardSnapshot>();
        return s.region == QStringLiteral("apac") && s.limiterClient == QStringLiteral("10.0.1.1");
    };
    QTRY_VERIFY(watched());
    const auto s = snapshots.last().at(0).value<DashboardSnapshot>();
    QVERIFY(s.redisAnswered);
    QCOMPARE(s.reportKey, QByteArray("report:apac"));
    QVERIFY2(s.reportPttlMs > 25000 && s.reportPttlMs <= 30000, qPrintable(QString::number(s.reportPttlMs)));
    QCOMPARE(s.limiterCount, qint64(1));
}

void tst_ServiceHost::liveSettingsReachTheRunningService()
{
    ServiceHost host(options());
    QString error;
    QVERIFY2(host.start(&error), qPrintable(error));
    TestHttp http{QUrl(host.baseUrl())};
    const Cachedash::Test::HeaderList from{{"X-Forwarded-For", "10.0.2.1"}};
    const HttpResult before = http.get(QStringLiteral("/reports/livea"), from);
    QCOMPARE(before.status, 200);
    QCOMPARE(before.header("RateLimit-Policy"), QByteArray("5;w=10"));
    QCOMPARE(before.header("Cache-Control"), QByteArray("max-age=30"));

    LiveSettings settings = host.options().liveSettings();
    settings.rateLimits.limits = {{2, 7s}};
    settings.cacheTtl = 12s;
    settings.reportDelay = 20ms;
    host.applyLiveSettings(settings); // returns once the service has them
    QCOMPARE(host.options().rateLimits.limits, (QList<RateLimit>{{2, 7s}}));
    QCOMPARE(host.options().cacheTtl, 12s);

    const HttpResult after = http.get(QStringLiteral("/reports/liveb"), from);
    QCOMPARE(after.status, 200);
    QCOMPARE(after.header("X-Cache"), QByteArray("MISS"));
    QCOMPARE(after.header("RateLimit-Policy"), QByteArray("2;w=7"));
    QCOMPARE(after.header("RateLimit-Limit"), QByteArray("2"));
    QCOMPARE(after.header("RateLimit-Remaining"), QByteArray("0"));
    QCOMPARE(after.header("Cache-Control"), QByteArray("max-age=12"));
    const qint64 pttl = m_redis.command({"PTTL", "report:liveb"}).toLongLong();
    QVERIFY2(pttl > 10000 && pttl <= 12000, qPrintable(QString::number(pttl)));
    // The third request in the window is one too many under the new limit.
    const HttpResult limited = http.get(QStringLiteral("/reports/liveb"), from);
    QCOMPARE(limited.status, 429);
    QCOMPARE(limited.header("RateLimit-Policy"), QByteArray("2;w=7"));
}

void tst_ServiceHost::stopIsCleanAndIdempotent()
{
    ServiceOptions o = options();
    o.reportDelay = 10s; // a computation that outlives the service
    auto host = std::make_unique<ServiceHost>(o);
    QString error;
    QVERIFY2(host->start(&error), qPrintable(error));
    const QUrl base(host->baseUrl());
    FeedReader feed(host->feed());

    QNetworkAccessManager nam;
    QNetworkRequest request(base.resolved(QUrl(QStringLiteral("/reports/slow"))));
    request.setRawHeader("X-Forwarded-For", "10.0.3.1");
    std::unique_ptr<QNetworkReply> reply(nam.get(request));
    // Under way: the service has announced it is computing.
    QTRY_COMPARE(feed.of(QStringLiteral("10.0.3.1")).size(), 1);

    QElapsedTimer clock;
    clock.start();
    host->stop();
    QVERIFY2(clock.elapsed() < 5000, qPrintable(QString::number(clock.elapsed())));
    // The request under way was answered, not dropped.
    QTRY_VERIFY(reply->isFinished());
    QCOMPARE(reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(), 503);
    const QList<RequestFeed::Event> events = feed.of(QStringLiteral("10.0.3.1"));
    QCOMPARE(events.size(), 2);
    QVERIFY(events.last().finished);
    QCOMPARE(events.last().record.status, 503);
    QCOMPARE(events.last().record.outcome, Outcome::Error);

    // Nothing listens any more.
    QTcpSocket probe;
    probe.connectToHost(QHostAddress::LocalHost, quint16(base.port()));
    QVERIFY(!probe.waitForConnected(5000));
    QCOMPARE(probe.error(), QAbstractSocket::ConnectionRefusedError);

    host->stop(); // again: nothing to do
    host->applyLiveSettings(o.liveSettings()); // and no service to reach
    host->refreshSnapshot();
    host.reset();
}

void tst_ServiceHost::unreachableRedisFailsTheStart()
{
    ServiceOptions o = options();
    const quint16 redisPort = closedPort();
    o.redisUrl = RedisUrl::parse(QStringLiteral("redis://127.0.0.1:%1").arg(redisPort)).value();
    o.redisUrlGiven = true; // given explicitly: never replaced by a private server
    o.port = closedPort();
    ServiceHost host(o);
    QString error;
    QVERIFY(!host.start(&error));
    QVERIFY2(error.contains(QLatin1String("cannot reach Redis")), qPrintable(error));
    QVERIFY2(error.contains(QString::number(redisPort)), qPrintable(error));
    QVERIFY(host.baseUrl().isEmpty());
    QVERIFY(!host.usesPrivateRedis());
    // Nothing is left listening on the service's port.
    QTcpServer again;
    QVERIFY(again.listen(QHostAddress::LocalHost, o.port));
    host.stop();
}

QTEST_GUILESS_MAIN(tst_ServiceHost)
#include "tst_servicehost.moc"
