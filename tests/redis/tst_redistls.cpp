// SPDX-License-Identifier: GPL-3.0-or-later
// rediss:// against a real redis-server with a TLS port: the client and the subscriber work as
// over plain TCP, and every way TLS can go wrong ends the connection attempt with a reason a user
// can act on, within the connect timeout.
#include "redis/redisclient.h"
#include "redis/redissubscriber.h"
#include "redis/redistls.h"
#include "testlib/testcertificates.h"
#include "testlib/testredisserver.h"
#include "testlib/testwait.h"

#include <QElapsedTimer>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTest>

#include <qcoro/qcorotask.h>

#include <memory>

using namespace std::chrono_literals;
using Cachedash::RedisClient;
using Cachedash::RedisPendingReply;
using Cachedash::RedisReply;
using Cachedash::RedisScript;
using Cachedash::RedisSubscriber;
using Cachedash::RedisTlsContext;
using Cachedash::RedisTlsOptions;
using Cachedash::RedisUrl;
using Cachedash::Test::TestCertificates;
using Cachedash::Test::TestRedisServer;
using Cachedash::Test::waitUntil;

namespace {

RedisReply await(RedisPendingReply pending)
{
    return QCoro::waitFor(pending);
}

} // namespace

class tst_RedisTls : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();

    void loadRefusesUnusableFiles();
    void commandsPipeliningAndScripts();
    void addressMatchesTheCertificatesIpName();
    void commandTimeoutAndReset();
    void restartRecovers();
    void subscriberOverTls();
    void subscriberToPlainPortSaysSo();
    void unknownCa();
    void wrongName();
    void expiredCertificate();
    void insecureSkipVerifyWarnsOnEveryConnect();
    void tlsUrlToPlainPort();
    void plainUrlToTlsPort();
    void mutualTls();

private:
    std::shared_ptr<const RedisTlsContext> context(RedisTlsOptions options);
    std::shared_ptr<const RedisTlsContext> trustingCa();
    // A client that tries once; its lastError() says why it failed.
    std::unique_ptr<RedisClient> attempt(const QString &url, std::shared_ptr<const RedisTlsContext> tls);
    // Starts a TLS-only server (no plain port but the fixture's own) serving `cert`.
    bool startTls(TestRedisServer &server, quint16 &tlsPort,
        const QString &authClients = QStringLiteral("no"), const QString &cert = {}, const QString &key = {});

    TestCertificates m_certs;
    TestRedisServer m_server;
    quint16 m_tlsPort = 0;
};

std::shared_ptr<const RedisTlsContext> tst_RedisTls::context(RedisTlsOptions options)
{
    QString error;
    auto tls = RedisTlsContext::load(options, &error);
    if (!tls)
        qWarning("%s", qPrintable(error));
    return tls;
}

std::shared_ptr<const RedisTlsContext> tst_RedisTls::trustingCa()
{
    RedisTlsOptions options;
    options.caCertFile = m_certs.caCert();
    return context(options);
}

bool tst_RedisTls::startTls(TestRedisServer &server, quint16 &tlsPort, const QString &authClients,
    const QString &cert, const QString &key)
{
    tlsPort = TestRedisServer::freeLoopbackPort();
    return server.start(m_certs.redisServerArgs(tlsPort, authClients, cert, key));
}

std::unique_ptr<RedisClient> tst_RedisTls::attempt(
    const QString &url, std::shared_ptr<const RedisTlsContext> tls)
{
    RedisClient::Options options;
    options.connectTimeout = 1000ms;
    options.reconnect = false;
    options.tls = std::move(tls);
    auto client = std::make_unique<RedisClient>(RedisUrl::parse(url).value(), options);
    client->open();
    QElapsedTimer timer;
    timer.start();
    const bool ready = QCoro::waitFor(client->waitForReady(10s));
    // Whatever went wrong, the attempt ended by itself, well before the wait's own deadline.
    if (!ready && timer.elapsed() > 5000)
        qWarning("the attempt took %lld ms", qint64(timer.elapsed()));
    return client;
}

void tst_RedisTls::initTestCase()
{
    QVERIFY2(m_certs.create(), qPrintable(m_certs.errorString()));
    QVERIFY2(startTls(m_server, m_tlsPort), qPrintable(m_server.errorString()));
}

void tst_RedisTls::loadRefusesUnusableFiles()
{
    QString error;
    RedisTlsOptions missing;
    missing.caCertFile = QStringLiteral("/nonexistent/ca.pem");
    QVERIFY(!RedisTlsContext::load(missing, &error));
    QVERIFY2(error.startsWith(QLatin1String("--redis-ca-cert /nonexistent/ca.pem:")), qPrintable(error));

    RedisTlsOptions notPem;
    notPem.caCertFile = m_certs.serverKey(); // a key, not a certificate
    QVERIFY(!RedisTlsContext::load(notPem, &error));
    QVERIFY2(error.contains(QLatin1String("no PEM certificate")), qPrintable(error));

    RedisTlsOptions half;
    half.clientCertFile = m_certs.clientCert();
    QVERIFY(!RedisTlsContext::load(half, &error));
    QVERIFY2(error.contains(QLatin1String("go together")), qPrintable(error));

    RedisTlsOptions keyIsCert;
    keyIsCert.clientCertFile = m_certs.clientCert();
    keyIsCert.clientKeyFile = m_certs.clientCert();
    QVERIFY(!RedisTlsContext::load(keyIsCert, &error));
    QVERIFY2(error.contains(QLatin1String("no PEM private key")), qPrintable(error));

    RedisTlsOptions good;
    good.caCertFile = m_certs.caCert();
    good.clientCertFile = m_certs.clientCert();
    good.clientKeyFile = m_certs.clientKey();
    const auto tls = RedisTlsContext::load(good, &error);
    QVERIFY2(tls, qPrintable(error));
    QCOMPARE(tls->describe(), QStringLiteral("TLS, verified by ca.pem, client certificate client.pem"));
}

void tst_RedisTls::commandsPipeliningAndScripts()
{
    auto client = attempt(QStringLiteral("rediss://localhost:%1").arg(m_tlsPort), trustingCa());
    QVERIFY2(client->isReady(), qPrintable(client->lastError()));

    QVERIFY(await(client->set("tls:key", "over TLS", 30s)).isOk());
    QCOMPARE(await(client->get("tls:key")).bytes(), QByteArray("over TLS"));
    // The plain port of the same server sees what went over TLS.
    QCOMPARE(m_server.command({"GET", "tls:key"}), QByteArray("over TLS"));
    const RedisReply ttl = await(client->pttl("tls:key"));
    QVERIFY(ttl.toInteger() > 29000 && ttl.toInteger() <= 30000);

    // Commands issued in one turn leave in few writes and complete in order.
    const auto before = client->stats();
    constexpr int Count = 2000;
    std::vector<RedisPendingReply> pending;
    pending.reserve(Count);
    for (int i = 0; i < Count; ++i)
        pending.push_back(client->command({"INCR", "tls:counter"}));
    for (int i = 0; i < Count; ++i) {
        const RedisReply reply = await(pending[size_t(i)]);
        QVERIFY2(reply.isInteger(), qPrintable(reply.toDebugString()));
        QCOMPARE(reply.toInteger(), i + 1);
    }
    const auto after = client->stats();
    QVERIFY2(after.writeEvents - before.writeEvents < Count / 50,
        qPrintable(QString::number(after.writeEvents - before.writeEvents)));

    // A batch gathered just before the write shares it with the command issued alongside.
    const quint64 writes = client->stats().writeEvents;
    std::optional<RedisPendingReply> gathered;
    RedisPendingReply first = client->ping();
    client->beforeNextWrite([&] { gathered.emplace(client->command({"ECHO", "gathered"})); });
    QCOMPARE(await(first).bytes(), QByteArray("PONG"));
    QVERIFY(gathered);
    QCOMPARE(await(*gathered).bytes(), QByteArray("gathered"));
    QCOMPARE(client->stats().writeEvents, writes + 1);

    // A script the server has not seen: EVALSHA, NOSCRIPT, then EVAL.
    QCOMPARE(m_server.command({"SCRIPT", "FLUSH"}), QByteArray("OK"));
    const RedisScript script(QByteArrayLiteral("return redis.call('INCRBY', KEYS[1], ARGV[1])"));
    const RedisReply result = QCoro::waitFor(client->evalScript(script, {"tls:script"}, {"5"}));
    QCOMPARE(result.toInteger(), 5);
}

void tst_RedisTls::addressMatchesTheCertificatesIpName()
{
    auto client = attempt(QStringLiteral("rediss://127.0.0.1:%1").arg(m_tlsPort), trustingCa());
    QVERIFY2(client->isReady(), qPrintable(client->lastError()));
    QCOMPARE(await(client->ping()).bytes(), QByteArray("PONG"));
}

void tst_RedisTls::commandTimeoutAndReset()
{
    RedisClient::Options options;
    options.commandTimeout = 200ms;
    options.tls = trustingCa();
    RedisClient client(
        RedisUrl::parse(QStringLiteral("rediss://localhost:%1").arg(m_tlsPort)).value(), options);
    client.open();
    QVERIFY(QCoro::waitFor(client.waitForReady(5s)));
    QCOMPARE(m_server.command({"CLIENT", "PAUSE", "1000", "ALL"}), QByteArray("OK"));
    const RedisReply reply = await(client.get("k"));
    QCOMPARE(reply.failureKind(), RedisReply::Failure::Timeout);
    QVERIFY(waitUntil([&] { return client.stats().resets >= 1; }, 3000));
    QCOMPARE(m_server.command({"CLIENT", "UNPAUSE"}), QByteArray("OK"));
    QVERIFY(QCoro::waitFor(client.waitForReady(5s)));
    QCOMPARE(await(client.ping()).bytes(), QByteArray("PONG"));
}

void tst_RedisTls::restartRecovers()
{
    TestRedisServer server;
    quint16 port = 0;
    QVERIFY2(startTls(server, port), qPrintable(server.errorString()));
    RedisClient::Options options;
    options.tls = trustingCa();
    RedisClient client(RedisUrl::parse(QStringLiteral("rediss://localhost:%1").arg(port)).value(), options);
    client.open();
    QVERIFY(QCoro::waitFor(client.waitForReady(5s)));
    QVERIFY(await(client.set("before", "1")).isOk());

    server.kill();
    QVERIFY(waitUntil([&] { return client.state() == RedisClient::State::Reconnecting; }, 3000));
    QVERIFY(await(client.ping()).isFailure()); // fails at once while down
    QVERIFY2(server.restart(), qPrintable(server.errorString()));
    QVERIFY(QCoro::waitFor(client.waitForReady(5s)));
    QVERIFY(await(client.set("after", "2")).isOk());
    QCOMPARE(server.command({"GET", "after"}), QByteArray("2"));
    QCOMPARE(client.stats().connects, 2u);
}

void tst_RedisTls::subscriberOverTls()
{
    QCOMPARE(m_server.command({"CONFIG", "SET", "notify-keyspace-events", "K$"}), QByteArray("OK"));
    RedisSubscriber subscriber(
        RedisUrl::parse(QStringLiteral("rediss://localhost:%1").arg(m_tlsPort)).value(), trustingCa());
    QSignalSpy messages(&subscriber, &RedisSubscriber::message);
    subscriber.psubscribe("__keyspace@0__:tls:watched");
    subscriber.open();
    QVERIFY(waitUntil([&] { return subscriber.isSubscribed(); }, 5000));
    m_server.command({"SET", "tls:watched", "x"});
    QVERIFY(waitUntil([&] { return !messages.isEmpty(); }, 5000));
    QCOMPARE(messages.first().at(2).toByteArray(), QByteArray("set"));
}

void tst_RedisTls::subscriberToPlainPortSaysSo()
{
    // The handshake gets no answer: the subscriber gives up on the connection and says why.
    RedisSubscriber subscriber(
        RedisUrl::parse(QStringLiteral("rediss://localhost:%1").arg(m_server.port())).value(), trustingCa());
    QSignalSpy errors(&subscriber, &RedisSubscriber::errorOccurred);
    subscriber.psubscribe("__keyspace@0__:*");
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("may speak plain TCP")));
    subscriber.open();
    QVERIFY(waitUntil([&] { return !errors.isEmpty(); }, 5000));
    QVERIFY2(errors.first().at(0).toString().contains(QLatin1String("may speak plain TCP")),
        qPrintable(errors.first().at(0).toString()));
    QVERIFY(!subscriber.isSubscribed());
}

void tst_RedisTls::unknownCa()
{
    // No --redis-ca-cert: the system's CAs, which do not know the test CA.
    auto client = attempt(QStringLiteral("rediss://localhost:%1").arg(m_tlsPort), context({}));
    QVERIFY(!client->isReady());
    QVERIFY2(client->lastError().contains(QLatin1String("unknown CA")), qPrintable(client->lastError()));
    QVERIFY2(client->lastError().contains(QLatin1String("--redis-ca-cert")), qPrintable(client->lastError()));
}

void tst_RedisTls::wrongName()
{
    TestRedisServer server;
    quint16 port = 0;
    QVERIFY(startTls(server, port, QStringLiteral("no"), m_certs.otherCert(), m_certs.otherKey()));
    auto client = attempt(QStringLiteral("rediss://localhost:%1").arg(port), trustingCa());
    QVERIFY(!client->isReady());
    QVERIFY2(
        client->lastError().contains(QLatin1String("wrong name: it is for elsewhere.example, not localhost")),
        qPrintable(client->lastError()));
}

void tst_RedisTls::expiredCertificate()
{
    TestRedisServer server;
    quint16 port = 0;
    QVERIFY(startTls(server, port, QStringLiteral("no"), m_certs.expiredCert(), m_certs.expiredKey()));
    auto client = attempt(QStringLiteral("rediss://localhost:%1").arg(port), trustingCa());
    QVERIFY(!client->isReady());
    QVERIFY2(client->lastError().contains(QLatin1String("expired on")), qPrintable(client->lastError()));
}

void tst_RedisTls::insecureSkipVerifyWarnsOnEveryConnect()
{
    TestRedisServer server;
    quint16 port = 0;
    QVERIFY(startTls(server, port, QStringLiteral("no"), m_certs.otherCert(), m_certs.otherKey()));
    RedisTlsOptions insecure;
    insecure.insecureSkipVerify = true;
    RedisClient::Options options;
    options.tls = context(insecure);
    QCOMPARE(options.tls->describe(), QStringLiteral("TLS, certificate NOT verified"));
    RedisClient client(RedisUrl::parse(QStringLiteral("rediss://localhost:%1").arg(port)).value(), options);
    const QRegularExpression warning(QStringLiteral("NOT verified"));
    QTest::ignoreMessage(QtWarningMsg, warning);
    client.open();
    QVERIFY(QCoro::waitFor(client.waitForReady(5s)));
    QCOMPARE(await(client.ping()).bytes(), QByteArray("PONG"));
    // Again on the next connection.
    QTest::ignoreMessage(QtWarningMsg, warning);
    QCOMPARE(server.command({"CLIENT", "KILL", "TYPE", "normal"}), QByteArray("1"));
    QVERIFY(waitUntil([&] { return client.stats().connects == 2; }, 5000));
}

void tst_RedisTls::tlsUrlToPlainPort()
{
    // A plain port reads the TLS handshake as an unfinished command and says nothing.
    QElapsedTimer timer;
    timer.start();
    auto client = attempt(QStringLiteral("rediss://localhost:%1").arg(m_server.port()), trustingCa());
    QVERIFY(!client->isReady());
    QVERIFY2(
        client->lastError().contains(QLatin1String("may speak plain TCP")), qPrintable(client->lastError()));
    QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed())));
}

void tst_RedisTls::plainUrlToTlsPort()
{
    auto client = attempt(QStringLiteral("redis://localhost:%1").arg(m_tlsPort), {});
    QVERIFY(!client->isReady());
    QVERIFY2(client->lastError().contains(QLatin1String("may require TLS: use rediss://")),
        qPrintable(client->lastError()));
}

void tst_RedisTls::mutualTls()
{
    TestRedisServer server;
    quint16 port = 0;
    QVERIFY(startTls(server, port, QStringLiteral("yes")));
    const QString url = QStringLiteral("rediss://localhost:%1").arg(port);

    RedisTlsOptions withCert;
    withCert.caCertFile = m_certs.caCert();
    withCert.clientCertFile = m_certs.clientCert();
    withCert.clientKeyFile = m_certs.clientKey();
    auto good = attempt(url, context(withCert));
    QVERIFY2(good->isReady(), qPrintable(good->lastError()));
    QCOMPARE(await(good->ping()).bytes(), QByteArray("PONG"));

    auto without = attempt(url, trustingCa());
    QVERIFY(!without->isReady());
    QVERIFY2(without->lastError().contains(QLatin1String("requires a client certificate")),
        qPrintable(without->lastError()));

    RedisTlsOptions mismatched = withCert;
    mismatched.clientKeyFile = m_certs.otherKey();
    auto wrongKey = attempt(url, context(mismatched));
    QVERIFY(!wrongKey->isReady());
    QVERIFY2(wrongKey->lastError().contains(QLatin1String("does not belong to the certificate")),
        qPrintable(wrongKey->lastError()));
    QVERIFY(wrongKey->refused());

    RedisTlsOptions stranger = withCert;
    stranger.clientCertFile = m_certs.strangerCert();
    stranger.clientKeyFile = m_certs.strangerKey();
    auto refused = attempt(url, context(stranger));
    QVERIFY(!refused->isReady());
    QVERIFY2(refused->lastError().contains(QLatin1String("refused the client certificate")),
        qPrintable(refused->lastError()));
}

QTEST_GUILESS_MAIN(tst_RedisTls)
#include "tst_redistls.moc"
