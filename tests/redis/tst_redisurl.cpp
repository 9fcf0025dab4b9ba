// SPDX-License-Identifier: GPL-3.0-or-later
#include "redis/redisurl.h"

#include <QTest>

using Cachedash::RedisUrl;

class tst_RedisUrl : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void valid_data();
    void valid();
    void invalid_data();
    void invalid();
    void displayStringHidesCredentials();
};

void tst_RedisUrl::valid_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<int>("transport");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("socketPath");
    QTest::addColumn<QString>("username");
    QTest::addColumn<QString>("password");
    QTest::addColumn<int>("database");

    const int tcp = int(RedisUrl::Transport::Tcp);
    const int unix = int(RedisUrl::Transport::Unix);
    QTest::newRow("host only") << "redis://localhost" << tcp << "localhost" << 6379 << ""
                               << ""
                               << "" << 0;
    QTest::newRow("host and port") << "redis://127.0.0.1:6391" << tcp << "127.0.0.1" << 6391 << ""
                                   << ""
                                   << "" << 0;
    QTest::newRow("database") << "redis://cache.internal:7000/3" << tcp << "cache.internal" << 7000 << ""
                              << ""
                              << "" << 3;
    QTest::newRow("password only") << "redis://:s3cret@host" << tcp << "host" << 6379 << ""
                                   << ""
                                   << "s3cret" << 0;
    QTest::newRow("user and password") << "redis://alice:pw@host:1/15" << tcp << "host" << 1 << ""
                                       << "alice"
                                       << "pw" << 15;
    QTest::newRow("percent-encoded password") << "redis://:p%40ss%3Aw%2Frd@h" << tcp << "h" << 6379 << ""
                                              << ""
                                              << "p@ss:w/rd" << 0;
    QTest::newRow("ipv6") << "redis://[::1]:6380" << tcp << "::1" << 6380 << ""
                          << ""
                          << "" << 0;
    QTest::newRow("upper-case scheme") << "REDIS://h:2" << tcp << "h" << 2 << ""
                                       << ""
                                       << "" << 0;
    QTest::newRow("trailing slash") << "redis://h:2/" << tcp << "h" << 2 << ""
                                    << ""
                                    << "" << 0;
    QTest::newRow("unix") << "unix:///run/redis/redis.sock" << unix << "" << 0 << "/run/redis/redis.sock"
                          << ""
                          << "" << 0;
    QTest::newRow("unix with db") << "unix:///tmp/r.sock?db=2" << unix << "" << 0 << "/tmp/r.sock"
                                  << ""
                                  << "" << 2;
}

void tst_RedisUrl::valid()
{
    QFETCH(QString, url);
    QString error;
    const auto parsed = RedisUrl::parse(url, &error);
    QVERIFY2(parsed, qPrintable(error));
    QFETCH(int, transport);
    QFETCH(QString, host);
    QFETCH(int, port);
    QFETCH(QString, socketPath);
    QFETCH(QString, username);
    QFETCH(QString, password);
    QFETCH(int, database);
    QCOMPARE(int(parsed->transport), transport);
    if (parsed->transport == RedisUrl::Transport::Tcp) {
        QCOMPARE(parsed->host, host);
        QCOMPARE(int(parsed->port), port);
    } else {
        QCOMPARE(parsed->socketPath, socketPath);
    }
    QCOMPARE(parsed->username, username);
    QCOMPARE(parsed->password, password);
    QCOMPARE(parsed->database, database);
}

void tst_RedisUrl::invalid_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("mentions");

    QTest::newRow("empty") << ""
                           << "not a URL";
    QTest::newRow("no scheme") << "localhost:6379"
                               << "not a URL";
    QTest::newRow("http") << "http://h:1"
                          << "unsupported scheme";
    QTest::newRow("tls") << "rediss://h:1"
                         << "TLS";
    QTest::newRow("no host") << "redis://:6379"
                             << "host is missing";
    QTest::newRow("port zero") << "redis://h:0"
                               << "port";
    QTest::newRow("port too big") << "redis://h:65536"
                                  << "port";
    QTest::newRow("port not a number") << "redis://h:abc"
                                       << "port";
    QTest::newRow("port empty") << "redis://h:"
                                << "port";
    QTest::newRow("db not a number") << "redis://h/x"
                                     << "database";
    QTest::newRow("db negative") << "redis://h/-1"
                                 << "database";
    QTest::newRow("query on tcp") << "redis://h?db=1"
                                  << "no query";
    QTest::newRow("user without password") << "redis://alice@h"
                                           << "credentials";
    QTest::newRow("empty password") << "redis://alice:@h"
                                    << "password";
    QTest::newRow("bad host character") << "redis://h st"
                                        << "host";
    QTest::newRow("open ipv6") << "redis://[::1"
                               << "IPv6";
    QTest::newRow("unix relative") << "unix://redis.sock"
                                   << "absolute socket path";
    QTest::newRow("unix empty") << "unix://"
                                << "absolute socket path";
    QTest::newRow("unix unknown parameter") << "unix:///r.sock?timeout=1"
                                            << "unknown query parameter";
    QTest::newRow("unix bad db") << "unix:///r.sock?db=two"
                                 << "database";
    // Errors stay on one line whatever was typed.
    QTest::newRow("line break in the scheme") << "a\nb://:secret@host"
                                              << "unsupported scheme \"a?b\"";
    QTest::newRow("control character in a parameter") << "unix:///r.sock?t\x01x=1"
                                                      << "\"t?x\"";
}

void tst_RedisUrl::invalid()
{
    QFETCH(QString, url);
    QFETCH(QString, mentions);
    QString error;
    QVERIFY(!RedisUrl::parse(url, &error));
    QVERIFY2(error.contains(mentions), qPrintable(error));
}

void tst_RedisUrl::displayStringHidesCredentials()
{
    const auto url = RedisUrl::parse(QStringLiteral("redis://alice:topsecret@h:7/2"));
    QVERIFY(url);
    QCOMPARE(url->toDisplayString(), QStringLiteral("redis://h:7/2"));
    QString error;
    QVERIFY(!RedisUrl::parse(QStringLiteral("redis://alice:topsecret@h:99999"), &error));
    QVERIFY(!error.contains(QStringLiteral("topsecret")));
    QCOMPARE(RedisUrl::parse(QStringLiteral("unix:///s?db=4"))->toDisplayString(),
        QStringLiteral("unix:///s?db=4"));
    QCOMPARE(RedisUrl::parse(QStringLiteral("redis://[::1]:5"))->toDisplayString(),
        QStringLiteral("redis://[::1]:5"));
}

QTEST_GUILESS_MAIN(tst_RedisUrl)
#include "tst_redisurl.moc"
