// SPDX-License-Identifier: GPL-3.0-or-later
#include "service/serviceoptions.h"

#include <QCommandLineParser>
#include <QDateTime>
#include <QFile>
#include <QFileInfo>
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

// Writes `content` to `path` (replacing what was there); false if it could not.
bool writeFile(const QString &path, const QByteArray &content)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly | QIODevice::Truncate) && file.write(content) == content.size();
}

// FILE, wherever it stands in a list, becomes `path`.
QStringList withFile(QStringList list, const QString &path)
{
    for (QString &item : list)
        item.replace(QStringLiteral("FILE"), path);
    return list;
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
    void configPrecedence_data();
    void configPrecedence();
    void configFileValues();
    void configFileReadAgain();
    void invalidConfig_data();
    void invalidConfig();
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
    QTest::newRow("flag env") << QStringList{} << QStringList{QStringLiteral("CACHEDASH_PRIVATE_REDIS=maybe")}
                              << "CACHEDASH_PRIVATE_REDIS must be 1, true, on or yes";
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

// Each option on its own: the command line, else the environment, else the --config file (or
// CACHEDASH_CONFIG), else the saved settings, else the default. A repeatable option is taken whole
// from the first source that has it, never merged across sources. FILE stands for the config file.
void tst_ServiceOptions::configPrecedence_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("env");
    QTest::addColumn<QByteArray>("file");
    QTest::addColumn<QVariantMap>("saved");
    QTest::addColumn<int>("ttl");
    QTest::addColumn<QString>("limits");

    const QStringList config{QStringLiteral("--config"), QStringLiteral("FILE")};
    const QByteArray file = "cache-ttl = 50\nrate-limit = 6/10s, 60/1h\n";
    const QVariantMap saved{
        {QStringLiteral("cache-ttl"), 40}, {QStringLiteral("rate-limit"), QStringLiteral("8/1m, 80/1h")}};
    const QStringList env{
        QStringLiteral("CACHEDASH_CACHE_TTL=60"), QStringLiteral("CACHEDASH_RATE_LIMIT=7/10s")};
    const QStringList flags{QStringLiteral("--cache-ttl"), QStringLiteral("70"),
        QStringLiteral("--rate-limit"), QStringLiteral("9/1m"), QStringLiteral("--rate-limit"),
        QStringLiteral("90/1d")};

    QTest::newRow("default") << QStringList{} << QStringList{} << QByteArray() << QVariantMap{} << 30
                             << "5/10s";
    QTest::newRow("saved") << QStringList{} << QStringList{} << QByteArray() << saved << 40 << "8/1m, 80/1h";
    // What the window's QSettings gives back for "8/1m, 80/1h": a list.
    QTest::newRow("saved as a list") << QStringList{} << QStringList{} << QByteArray()
                                     << QVariantMap{{QStringLiteral("rate-limit"),
                                            QStringList{QStringLiteral("8/1m"), QStringLiteral("80/1h")}}}
                                     << 30 << "8/1m, 80/1h";
    QTest::newRow("file beats saved") << config << QStringList{} << file << saved << 50 << "6/10s, 60/1h";
    QTest::newRow("environment beats file") << config << env << file << saved << 60 << "7/10s";
    QTest::newRow("command line beats environment")
        << config + flags << env << file << saved << 70 << "9/1m, 90/1d";
    QTest::newRow("file named by CACHEDASH_CONFIG")
        << QStringList{} << QStringList{QStringLiteral("CACHEDASH_CONFIG=FILE")} << file << saved << 50
        << "6/10s, 60/1h";
    QTest::newRow("--config beats CACHEDASH_CONFIG")
        << config << QStringList{QStringLiteral("CACHEDASH_CONFIG=/nonexistent/cachedash.ini")} << file
        << QVariantMap{} << 50 << "6/10s, 60/1h";
    // Per option: the limits from the environment, the TTL from the file.
    QTest::newRow("each option from its own source")
        << config << QStringList{QStringLiteral("CACHEDASH_RATE_LIMIT=7/10s")} << file << saved << 50
        << "7/10s";
    QTest::newRow("option not in the file: saved")
        << config << QStringList{} << QByteArray("rate-limit = 6/10s\n") << saved << 40 << "6/10s";
    // A bare N takes --rate-window, itself from the file.
    QTest::newRow("bare limit and its window in the file")
        << config << QStringList{} << QByteArray("rate-limit = 7\nrate-window = 60\n") << QVariantMap{} << 30
        << "7/1m";
    QTest::newRow("bare limit in the file, window on the command line")
        << config + QStringList{QStringLiteral("--rate-window"), QStringLiteral("3600")} << QStringList{}
        << QByteArray("rate-limit = 7, 100/1d\n") << QVariantMap{} << 30 << "7/1h, 100/1d";
    QTest::newRow("empty file") << config << QStringList{} << QByteArray("") << saved << 40 << "8/1m, 80/1h";
    QTest::newRow("comments and [General]")
        << config << QStringList{} << QByteArray("; the service\n[General]\ncache-ttl = 55\n")
        << QVariantMap{} << 55 << "5/10s";
}

void tst_ServiceOptions::configPrecedence()
{
    QFETCH(QStringList, args);
    QFETCH(QStringList, env);
    QFETCH(QByteArray, file);
    QFETCH(QVariantMap, saved);
    QFETCH(int, ttl);
    QFETCH(QString, limits);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("cachedash.ini"));
    QVERIFY(writeFile(path, file));
    const Parsed p = parse(withFile(args, path), withFile(env, path), saved);
    QVERIFY2(p.options, qPrintable(p.error));
    QCOMPARE(int(p.options->cacheTtl.count()), ttl);
    QCOMPARE(RateLimit::listText(p.options->rateLimits.limits), limits);
    const bool fileUsed
        = args.contains(QStringLiteral("FILE")) || env.join(u' ').contains(QStringLiteral("FILE"));
    QCOMPARE(p.options->configFile, fileUsed ? path : QString());
}

// Every rate-limit setting from the file, lists as INI writes them (commas), quoted or not.
void tst_ServiceOptions::configFileValues()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("cachedash.ini"));
    QVERIFY(writeFile(path,
        "rate-limit = 5/10s, 100/1h\n"
        "refresh-rate-limit = 2/1m, 10/1d\n"
        "rate-algorithm = gcra\n"
        "rate-limit-mode = shadow\n"
        "rate-limit-exempt = 10.0.0.0/8, ::1\n"
        "trusted-proxy = 192.168.0.0/16\n"
        "report-delay-ms = 250\n"
        "private-redis = true\n"));
    const Parsed p = parse({QStringLiteral("--config"), path});
    QVERIFY2(p.options, qPrintable(p.error));
    QCOMPARE(p.options->configFile, path);
    QCOMPARE(p.options->rateLimits.limits, (QList<RateLimit>{{5, 10s}, {100, 1h}}));
    QCOMPARE(p.options->rateLimits.header(), QByteArray("5;w=10, 100;w=3600"));
    QCOMPARE(p.options->rateLimits.algorithm, RateAlgorithm::Gcra);
    QCOMPARE(p.options->rateLimits.mode, RateLimitMode::Shadow);
    QCOMPARE(p.options->refreshRateLimits, (QList<RateLimit>{{2, 1min}, {10, 24h}}));
    QCOMPARE(p.options->rateLimitExempt, (QStringList{QStringLiteral("10.0.0.0/8"), QStringLiteral("::1")}));
    QCOMPARE(p.options->trustedProxies, QStringList{QStringLiteral("192.168.0.0/16")});
    QCOMPARE(p.options->reportDelay, 250ms);
    QVERIFY(p.options->privateRedis);
    // The live settings (what SIGHUP applies) carry them all.
    const LiveSettings live = p.options->liveSettings();
    QCOMPARE(live.rateLimits, p.options->rateLimits);
    QCOMPARE(live.refreshRateLimits, p.options->refreshRateLimits);
    QCOMPARE(live.rateLimitExempt, p.options->rateLimitExempt);
    QVERIFY(ServiceOptions::problemWith(live).isEmpty());

    // The Redis URL too, a cluster's seeds with their commas whole; the environment wins over it.
    QVERIFY(writeFile(path, "redis-url = redis://127.0.0.1:7001,127.0.0.1:7002\n"));
    const Parsed u = parse({QStringLiteral("--config"), path});
    QVERIFY2(u.options, qPrintable(u.error));
    QVERIFY(u.options->redisUrlGiven);
    QCOMPARE(u.options->redisUrl.addresses().size(), 2);
    const Parsed e
        = parse({QStringLiteral("--config"), path}, {QStringLiteral("REDIS_URL=redis://10.0.0.1:6390")});
    QVERIFY2(e.options, qPrintable(e.error));
    QCOMPARE(e.options->redisUrl.addresses().size(), 1);

    // A quoted list is one string to INI: still two limits. One value alone: one limit. Names of
    // algorithms and modes in any case.
    QVERIFY(writeFile(path,
        "rate-limit = \"5/10s, 100/1h\"\n"
        "refresh-rate-limit = 3/10s\n"
        "rate-algorithm = Sliding-Window-Counter\n"
        "rate-limit-mode = ENFORCE\n"
        "rate-limit-exempt = 127.0.0.1\n"));
    const Parsed q = parse({QStringLiteral("--config"), path});
    QVERIFY2(q.options, qPrintable(q.error));
    QCOMPARE(q.options->rateLimits.limits, (QList<RateLimit>{{5, 10s}, {100, 1h}}));
    QCOMPARE(q.options->refreshRateLimits, (QList<RateLimit>{{3, 10s}}));
    QCOMPARE(q.options->rateLimits.algorithm, RateAlgorithm::SlidingWindowCounter);
    QCOMPARE(q.options->rateLimits.mode, RateLimitMode::Enforce);
    QCOMPARE(q.options->rateLimitExempt, QStringList{QStringLiteral("127.0.0.1")});
    QVERIFY(!q.options->privateRedis);
}

// SIGHUP reads the file again through ServiceOptions::from(): each reading sees the file as it is
// now, not as it was.
void tst_ServiceOptions::configFileReadAgain()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("cachedash.ini"));
    const QStringList args{QStringLiteral("--config"), path};
    QVERIFY(writeFile(path, "rate-limit = 1000000/10s\n"));
    const Parsed first = parse(args);
    QVERIFY2(first.options, qPrintable(first.error));
    QCOMPARE(first.options->rateLimits.limits, (QList<RateLimit>{{1'000'000, 10s}}));

    QVERIFY(writeFile(path, "rate-limit = 3/10s\nrate-algorithm = gcra\n"));
    const Parsed second = parse(args);
    QVERIFY2(second.options, qPrintable(second.error));
    QCOMPARE(second.options->rateLimits.limits, (QList<RateLimit>{{3, 10s}}));
    QCOMPARE(second.options->rateLimits.algorithm, RateAlgorithm::Gcra);

    QVERIFY(writeFile(path, "rate-limit = banana\n"));
    const Parsed bad = parse(args);
    QVERIFY(!bad.options);
    QVERIFY2(bad.error.contains(QStringLiteral("rate-limit in %1").arg(path)), qPrintable(bad.error));

    QVERIFY(QFile::remove(path));
    const Parsed gone = parse(args);
    QVERIFY(!gone.options);
    QCOMPARE(gone.error, QStringLiteral("--config: %1 is not a readable file").arg(path));

    // The same size and the same modification time as a version read before (a copy that keeps
    // times, cp -p or rsync -t; or a file system that keeps whole seconds): still the new text.
    QVERIFY(writeFile(path, "rate-limit = 4/10s\n"));
    const Parsed four = parse(args);
    QVERIFY2(four.options, qPrintable(four.error));
    QCOMPARE(four.options->rateLimits.limits, (QList<RateLimit>{{4, 10s}}));
    const QDateTime modified = QFileInfo(path).lastModified();
    QVERIFY(writeFile(path, "rate-limit = 7/10s\n"));
    {
        QFile file(path);
        QVERIFY(file.open(QIODevice::ReadWrite));
        QVERIFY(file.setFileTime(modified, QFileDevice::FileModificationTime));
    }
    const Parsed seven = parse(args);
    QVERIFY2(seven.options, qPrintable(seven.error));
    QCOMPARE(seven.options->rateLimits.limits, (QList<RateLimit>{{7, 10s}}));
}

// An unusable file, or a bad value in it, is an error that names the file (and the key).
// FILE stands for the config file's path; a null `file` is not written.
void tst_ServiceOptions::invalidConfig_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("env");
    QTest::addColumn<QByteArray>("file");
    QTest::addColumn<QStringList>("mentions");

    const QStringList config{QStringLiteral("--config"), QStringLiteral("FILE")};
    const QStringList none;
    QTest::newRow("missing file") << config << none << QByteArray()
                                  << QStringList{QStringLiteral("--config: FILE is not a readable file")};
    QTest::newRow("missing file from CACHEDASH_CONFIG")
        << none << QStringList{QStringLiteral("CACHEDASH_CONFIG=FILE")} << QByteArray()
        << QStringList{QStringLiteral("--config: FILE is not a readable file")};
    QTest::newRow("a directory") << QStringList{QStringLiteral("--config"), QStringLiteral("/")} << none
                                 << QByteArray() << QStringList{QStringLiteral("/ is not a readable file")};
    QTest::newRow("unknown key") << config << none << QByteArray("cache-ttl = 5\nrate-limt = 5/10s\n")
                                 << QStringList{QStringLiteral("FILE: \"rate-limt\" is not an option")};
    // Unknown even when the command line gives every known option it could stand for.
    QTest::newRow("unknown key beside flags")
        << config + QStringList{QStringLiteral("--rate-limit"), QStringLiteral("5/10s")} << none
        << QByteArray("ratelimit = 5/10s\n")
        << QStringList{QStringLiteral("FILE: \"ratelimit\" is not an option")};
    QTest::newRow("option with dashes")
        << config << none << QByteArray("--cache-ttl = 5\n")
        << QStringList{QStringLiteral("FILE: \"--cache-ttl\" is not an option")};
    QTest::newRow("key in a section")
        << config << none << QByteArray("[limits]\nrate-limit = 5/10s\n")
        << QStringList{QStringLiteral("FILE: \"limits/rate-limit\" is not an option"),
               QStringLiteral("outside any [section]")};
    QTest::newRow("config in the config") << config << none << QByteArray("config = other.ini\n")
                                          << QStringList{QStringLiteral("FILE: \"config\" is not an option")};
    QTest::newRow("bad number")
        << config << none << QByteArray("cache-ttl = soon\n")
        << QStringList{
               QStringLiteral("cache-ttl in FILE must be a whole number from 1 to 31536000 (got \"soon\")")};
    QTest::newRow("number list") << config << none << QByteArray("cache-ttl = 30, 40\n")
                                 << QStringList{QStringLiteral("cache-ttl in FILE must be a whole number"),
                                        QStringLiteral("(got \"30,40\")")};
    QTest::newRow("bad rate limit") << config << none << QByteArray("rate-limit = banana\n")
                                    << QStringList{QStringLiteral(
                                           "rate-limit in FILE: \"banana\" is not a rate limit")};
    QTest::newRow("bad limit among good ones")
        << config << none << QByteArray("rate-limit = 5/10s, 7/fortnight, 100/1h\n")
        << QStringList{QStringLiteral("rate-limit in FILE: \"7/fortnight\" is not a rate limit")};
    QTest::newRow("zero limit") << config << none << QByteArray("rate-limit = 0/10s\n")
                                << QStringList{
                                       QStringLiteral("rate-limit in FILE: \"0/10s\" is not a rate limit")};
    QTest::newRow("window too long") << config << none << QByteArray("rate-limit = 5/8d\n")
                                     << QStringList{QStringLiteral("rate-limit in FILE"),
                                            QStringLiteral("at most 7d")};
    QTest::newRow("bare refresh limit")
        << config << none << QByteArray("refresh-rate-limit = 5\n")
        << QStringList{
               QStringLiteral("refresh-rate-limit in FILE: \"5\" is not a rate limit: give a window")};
    QTest::newRow("bad rate window") << config << none << QByteArray("rate-limit = 5\nrate-window = 0\n")
                                     << QStringList{
                                            QStringLiteral("rate-window in FILE must be a whole number")};
    QTest::newRow("same window") << config << none << QByteArray("rate-limit = 5/10s, 7/10s\n")
                                 << QStringList{QStringLiteral("5/10s and 7/10s have the same window")};
    QTest::newRow("same window, written apart")
        << config << none << QByteArray("rate-limit = 5/1m, 100/1h, 7/60s\n")
        << QStringList{QStringLiteral("5/1m and 7/1m have the same window")};
    QTest::newRow("same window, bare and full")
        << config << none << QByteArray("rate-limit = 5, 7/10s\n")
        << QStringList{QStringLiteral("5/10s and 7/10s have the same window")};
    QTest::newRow("same refresh window") << config << none << QByteArray("refresh-rate-limit = 1/1h, 2/60m\n")
                                         << QStringList{QStringLiteral("refresh-rate-limit"),
                                                QStringLiteral("1/1h and 2/1h have the same window")};
    QTest::newRow("bad algorithm") << config << none << QByteArray("rate-algorithm = token-bucket\n")
                                   << QStringList{QStringLiteral(
                                          "rate-algorithm in FILE must be sliding-log, gcra or "
                                          "sliding-window-counter (got \"token-bucket\")")};
    QTest::newRow("algorithm list") << config << none << QByteArray("rate-algorithm = gcra, sliding-log\n")
                                    << QStringList{QStringLiteral("rate-algorithm in FILE must be")};
    QTest::newRow("bad mode") << config << none << QByteArray("rate-limit-mode = dry-run\n")
                              << QStringList{QStringLiteral(
                                     "rate-limit-mode in FILE must be enforce or shadow (got \"dry-run\")")};
    QTest::newRow("too large for the counter")
        << config << none
        << QByteArray("rate-algorithm = sliding-window-counter\nrate-limit = 1000000000/7d\n")
        << QStringList{QStringLiteral("too large for sliding-window-counter")};
    QTest::newRow("bad value in the environment, file fine")
        << config << QStringList{QStringLiteral("CACHEDASH_RATE_ALGORITHM=fastest")}
        << QByteArray("rate-algorithm = gcra\n")
        << QStringList{QStringLiteral("CACHEDASH_RATE_ALGORITHM must be")};
    QTest::newRow("headless in the file")
        << config << none << QByteArray("headless = true\n")
        << QStringList{QStringLiteral("headless is chosen on the command line")};
    QTest::newRow("empty rate-limit") << config << none << QByteArray("rate-limit =\n")
                                      << QStringList{QStringLiteral("rate-limit in FILE is empty")};
    QTest::newRow("bad exempt range")
        << config << none << QByteArray("rate-limit-exempt = 10.0.0.0/8, 10.0.0.0/33\n")
        << QStringList{QStringLiteral("\"10.0.0.0/33\" is not an address"),
               QStringLiteral("rate-limit-exempt in FILE")};
    QTest::newRow("insecure TLS flag for a plain URL")
        << config << none << QByteArray("redis-insecure-skip-tls-verify = yes\n")
        << QStringList{QStringLiteral("applies to TLS only"),
               QStringLiteral("redis-insecure-skip-tls-verify in FILE")};
}

void tst_ServiceOptions::invalidConfig()
{
    QFETCH(QStringList, args);
    QFETCH(QStringList, env);
    QFETCH(QByteArray, file);
    QFETCH(QStringList, mentions);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("cachedash.ini"));
    if (!file.isNull())
        QVERIFY(writeFile(path, file));
    const Parsed p = parse(withFile(args, path), withFile(env, path));
    QVERIFY2(!p.options, "accepted");
    const QStringList expected = withFile(mentions, path);
    for (const QString &mention : expected)
        QVERIFY2(p.error.contains(mention), qPrintable(p.error));
}

QTEST_GUILESS_MAIN(tst_ServiceOptions)
#include "tst_serviceoptions.moc"
