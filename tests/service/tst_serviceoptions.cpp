// SPDX-License-Identifier: GPL-3.0-or-later
#include "service/serviceoptions.h"

#include <QCommandLineParser>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace std::chrono_literals;
using namespace Cachedash;

namespace {
struct Parsed
{
    std::optional<ServiceOptions> options;
    QString error;
};

Parsed parse(const QStringList &args, const QStringList &env = {}, const QVariantMap &saved = {})
{
    QCommandLineParser parser;
    ServiceOptions::addTo(parser);
    Parsed result;
    if (!parser.parse(QStringList{QStringLiteral("cachedash")} + args)) {
        result.error = parser.errorText();
        return result;
    }
    QProcessEnvironment environment;
    for (const QString &pair : env)
        environment.insert(pair.section(u'=', 0, 0), pair.section(u'=', 1));
    result.options = ServiceOptions::from(parser, environment, saved, &result.error);
    return result;
}
} // namespace

class tst_ServiceOptions : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void defaultsAreTheSeeds();
    void precedence_data();
    void precedence();
    void redisUrlSources();
    void invalid_data();
    void invalid();
    void trustedProxies();
    void tlsFiles();
};

void tst_ServiceOptions::defaultsAreTheSeeds()
{
    const Parsed p = parse({});
    QVERIFY2(p.options, qPrintable(p.error));
    QCOMPARE(p.options->port, 8000);
    QCOMPARE(p.options->bindAddress, QHostAddress(QHostAddress::LocalHost));
    QCOMPARE(p.options->reportDelay, 1500ms);
    QCOMPARE(p.options->cacheTtl, 30s);
    QCOMPARE(p.options->rateLimits.limits, (QList<RateLimit>{{5, 10s}}));
    QCOMPARE(p.options->redisUrl.toDisplayString(), QStringLiteral("redis://127.0.0.1:6379"));
    QVERIFY(!p.options->redisUrlGiven);
    QVERIFY(!p.options->accessLog.has_value());
}

void tst_ServiceOptions::precedence_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("env");
    QTest::addColumn<QVariantMap>("saved");
    QTest::addColumn<int>("delayMs");

    const QVariantMap saved{{QStringLiteral("report-delay-ms"), 300}};
    QTest::newRow("default") << QStringList{} << QStringList{} << QVariantMap{} << 1500;
    QTest::newRow("saved") << QStringList{} << QStringList{} << saved << 300;
    QTest::newRow("environment beats saved")
        << QStringList{} << QStringList{QStringLiteral("CACHEDASH_REPORT_DELAY_MS=200")} << saved << 200;
    QTest::newRow("flag beats environment")
        << QStringList{QStringLiteral("--report-delay-ms"), QStringLiteral("100")}
        << QStringList{QStringLiteral("CACHEDASH_REPORT_DELAY_MS=200")} << saved << 100;
}

void tst_ServiceOptions::precedence()
{
    QFETCH(QStringList, args);
    QFETCH(QStringList, env);
    QFETCH(QVariantMap, saved);
    QFETCH(int, delayMs);
    const Parsed p = parse(args, env, saved);
    QVERIFY2(p.options, qPrintable(p.error));
    QCOMPARE(int(p.options->reportDelay.count()), delayMs);
}

void tst_ServiceOptions::redisUrlSources()
{
    const QString flag = QStringLiteral("redis://flag:1");
    const QString own = QStringLiteral("CACHEDASH_REDIS_URL=redis://own:2");
    const QString common = QStringLiteral("REDIS_URL=redis://common:3");
    QCOMPARE(parse({QStringLiteral("--redis-url"), flag}, {own, common}).options->redisUrl.host,
        QStringLiteral("flag"));
    QCOMPARE(parse({}, {own, common}).options->redisUrl.host, QStringLiteral("own"));
    const Parsed fromCommon = parse({}, {common});
    QCOMPARE(fromCommon.options->redisUrl.host, QStringLiteral("common"));
    QVERIFY(fromCommon.options->redisUrlGiven);
    // --private-redis wins over the environment, and contradicts an explicit --redis-url.
    const Parsed isolated = parse({QStringLiteral("--private-redis")}, {common});
    QVERIFY(isolated.options && isolated.options->privateRedis && !isolated.options->redisUrlGiven);
    const Parsed both = parse({QStringLiteral("--private-redis"), QStringLiteral("--redis-url"), flag});
    QVERIFY(!both.options);
    QVERIFY(both.error.contains(QStringLiteral("contradict")));
    QVERIFY(parse({}, {QStringLiteral("CACHEDASH_PRIVATE_REDIS=1")}).options->privateRedis);
}

void tst_ServiceOptions::invalid_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("env");
    QTest::addColumn<QString>("mentions");
    QTest::newRow("port flag") << QStringList{QStringLiteral("--port"), QStringLiteral("99999")}
                               << QStringList{} << "--port must be a whole number from 0 to 65535";
    QTest::newRow("port env") << QStringList{} << QStringList{QStringLiteral("CACHEDASH_PORT=eighty")}
                              << "CACHEDASH_PORT must be a whole number";
    QTest::newRow("ttl zero") << QStringList{QStringLiteral("--cache-ttl"), QStringLiteral("0")}
                              << QStringList{} << "--cache-ttl";
    QTest::newRow("url env") << QStringList{} << QStringList{QStringLiteral("REDIS_URL=mysql://x")}
                             << "REDIS_URL: unsupported scheme";
    QTest::newRow("policy env") << QStringList{}
                                << QStringList{QStringLiteral("CACHEDASH_RATE_LIMIT_ON_ERROR=maybe")}
                                << "CACHEDASH_RATE_LIMIT_ON_ERROR must be allow or deny";
    QTest::newRow("access log") << QStringList{QStringLiteral("--access-log"), QStringLiteral("loud")}
                                << QStringList{} << "--access-log must be on or off";
    QTest::newRow("bind env") << QStringList{} << QStringList{QStringLiteral("CACHEDASH_BIND=example.com")}
                              << "CACHEDASH_BIND must be an IP address";
    QTest::newRow("short admin token")
        << QStringList{} << QStringList{QStringLiteral("CACHEDASH_ADMIN_TOKEN=short")}
        << "CACHEDASH_ADMIN_TOKEN must be at least 16 characters";
    QTest::newRow("proxy") << QStringList{QStringLiteral("--trusted-proxy"), QStringLiteral("10.0.0.0/40")}
                           << QStringList{} << "trusted proxy";
    QTest::newRow("exempt range") << QStringList{QStringLiteral("--rate-limit-exempt"),
        QStringLiteral("10.0.0.0/33")}
                                  << QStringList{}
                                  << "--rate-limit-exempt: \"10.0.0.0/33\" is not an address";
    // A TLS option beside a plain URL: most likely the "s" of rediss:// was forgotten.
    QTest::newRow("CA for a plain URL") << QStringList{QStringLiteral("--redis-url"),
        QStringLiteral("redis://h:1"), QStringLiteral("--redis-ca-cert"), QStringLiteral("ca.pem")}
                                        << QStringList{} << "--redis-ca-cert applies to TLS only";
    QTest::newRow("insecure for the default URL")
        << QStringList{} << QStringList{QStringLiteral("CACHEDASH_REDIS_INSECURE_SKIP_TLS_VERIFY=1")}
        << "CACHEDASH_REDIS_INSECURE_SKIP_TLS_VERIFY applies to TLS only";
    QTest::newRow("insecure beside a CA") << QStringList{QStringLiteral("--redis-url"),
        QStringLiteral("rediss://h"), QStringLiteral("--redis-insecure-skip-tls-verify"),
        QStringLiteral("--redis-ca-cert"), QFINDTESTDATA("tst_serviceoptions.cpp")}
                                          << QStringList{} << "contradict each other";
}

void tst_ServiceOptions::invalid()
{
    QFETCH(QStringList, args);
    QFETCH(QStringList, env);
    QFETCH(QString, mentions);
    const Parsed p = parse(args, env);
    QVERIFY(!p.options);
    QVERIFY2(p.error.contains(mentions), qPrintable(p.error));
}

void tst_ServiceOptions::trustedProxies()
{
    QCOMPARE(parse({QStringLiteral("--trusted-proxy"), QStringLiteral("10.0.0.0/8"),
                       QStringLiteral("--trusted-proxy"), QStringLiteral("::1")})
                 .options->trustedProxies.size(),
        2);
    QCOMPARE(
        parse({}, {QStringLiteral("CACHEDASH_TRUSTED_PROXY=10.0.0.0/8,127.0.0.1")}).options->trustedProxies,
        (QStringList{QStringLiteral("10.0.0.0/8"), QStringLiteral("127.0.0.1")}));
}

void tst_ServiceOptions::tlsFiles()
{
    QTemporaryDir dir;
    const QString ca = dir.filePath(QStringLiteral("ca.pem"));
    const QString cert = dir.filePath(QStringLiteral("me.pem"));
    const QString key = dir.filePath(QStringLiteral("me.key"));
    for (const QString &path : {ca, cert, key}) {
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly)); // what is in them is read at start, not here
    }
    const Parsed flags = parse({QStringLiteral("--redis-url"),
        QStringLiteral("rediss://:pw@cache.example.com:6380"), QStringLiteral("--redis-ca-cert"), ca,
        QStringLiteral("--redis-client-cert"), cert, QStringLiteral("--redis-client-key"), key});
    QVERIFY2(flags.options, qPrintable(flags.error));
    QVERIFY(flags.options->redisUrl.tls);
    QCOMPARE(flags.options->redisTls.caCertFile, ca);
    QCOMPARE(flags.options->redisTls.clientCertFile, cert);
    QCOMPARE(flags.options->redisTls.clientKeyFile, key);
    QVERIFY(!flags.options->redisTls.insecureSkipVerify);

    // Like every option, each also comes from the environment.
    const Parsed env = parse({},
        {QStringLiteral("REDIS_URL=rediss+sentinel://s1,s2/main"),
            QStringLiteral("CACHEDASH_REDIS_CA_CERT=") + ca,
            QStringLiteral("CACHEDASH_REDIS_CLIENT_CERT=") + cert,
            QStringLiteral("CACHEDASH_REDIS_CLIENT_KEY=") + key});
    QVERIFY2(env.options, qPrintable(env.error));
    QVERIFY(env.options->redisUrl.tls && env.options->redisUrl.sentinel);
    QCOMPARE(env.options->redisTls.caCertFile, ca);
    QCOMPARE(env.options->redisTls.clientKeyFile, key);
    QVERIFY(!env.options->redisTls.insecureSkipVerify);
    const Parsed insecure = parse({},
        {QStringLiteral("REDIS_URL=rediss://h"),
            QStringLiteral("CACHEDASH_REDIS_INSECURE_SKIP_TLS_VERIFY=yes")});
    QVERIFY2(insecure.options, qPrintable(insecure.error));
    QVERIFY(insecure.options->redisTls.insecureSkipVerify);
    // rediss:// with no option at all: the system's CAs.
    const Parsed bare = parse({QStringLiteral("--redis-url"), QStringLiteral("rediss://h")});
    QVERIFY(bare.options);
    QCOMPARE(bare.options->redisTls, RedisTlsOptions{});
    // A file that is not there is an invalid option, named by where it came from.
    const Parsed missing = parse({QStringLiteral("--redis-url"), QStringLiteral("rediss://h")},
        {QStringLiteral("CACHEDASH_REDIS_CLIENT_KEY=/nonexistent/me.key")});
    QVERIFY(!missing.options);
    QCOMPARE(missing.error,
        QStringLiteral("CACHEDASH_REDIS_CLIENT_KEY: /nonexistent/me.key is not a readable file"));
}

QTEST_GUILESS_MAIN(tst_ServiceOptions)
#include "tst_serviceoptions.moc"
