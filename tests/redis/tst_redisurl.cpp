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
    void multipleHosts_data();
    void multipleHosts();
    void sentinel_data();
    void sentinel();
    void displayStringRoundTrips_data();
    void displayStringRoundTrips();
    void withAddressKeepsCredentialsAndDatabase();
    void tls_data();
    void tls();
};

namespace {

QStringList list(std::initializer_list<const char *> items)
{
    QStringList out;
    for (const char *item : items)
        out.append(QString::fromUtf8(item));
    return out;
}

QStringList hostsOf(const RedisUrl &url)
{
    QStringList out;
    for (const RedisUrl::Address &address : url.addresses())
        out.append(address.toString());
    return out;
}

} // namespace

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
    // One server: no more hosts, not a sentinel.
    QVERIFY(parsed->moreHosts.isEmpty());
    QVERIFY(!parsed->sentinel);
    QVERIFY(parsed->masterName.isEmpty());
    if (parsed->transport == RedisUrl::Transport::Tcp)
        QCOMPARE(hostsOf(*parsed), QStringList(RedisUrl::Address{host, quint16(port)}.toString()));
    else
        QVERIFY(parsed->addresses().isEmpty());
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
    QTest::newRow("rediss for a socket") << "rediss+unix:///tmp/redis.sock"
                                         << "rediss:// (TLS)";
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

    // Several hosts: each one is a host[:port] of its own.
    QTest::newRow("empty host in the list") << "redis://h1:7000,,h3:7002"
                                            << "host is missing";
    QTest::newRow("empty first host") << "redis://,h2:7001"
                                      << "host is missing";
    QTest::newRow("trailing comma") << "redis://h1:7000,"
                                    << "host is missing";
    QTest::newRow("port only in the list") << "redis://h1:7000,:7001"
                                           << "host is missing";
    QTest::newRow("bad port in the list") << "redis://h1:7000,h2:70001"
                                          << "port";
    QTest::newRow("port zero in the list") << "redis://h1:7000,h2:0/1"
                                           << "port";
    QTest::newRow("port not a number in the list") << "redis://h1,h2:x"
                                                   << "port";
    QTest::newRow("bad host character in the list") << "redis://h1,h 2"
                                                    << "host";
    QTest::newRow("bad db after a list") << "redis://h1,h2/db"
                                         << "database";
    QTest::newRow("65 hosts") << QStringLiteral("redis://") + QStringList(65, QStringLiteral("h")).join(u',')
                              << "at most 64";
    // Sentinel.
    QTest::newRow("sentinel without a master name") << "redis+sentinel://s1:26379"
                                                    << "names its master";
    QTest::newRow("sentinel with an empty master name") << "redis+sentinel://s1:26379/"
                                                        << "names its master";
    QTest::newRow("sentinel with a db but no name") << "redis+sentinel://s1:26379//2"
                                                    << "names its master";
    QTest::newRow("sentinel with credentials, no name") << "redis+sentinel://:pw@s1,s2"
                                                        << "names its master";
    QTest::newRow("sentinel bad db") << "redis+sentinel://s1/mymaster/x"
                                     << "database";
    QTest::newRow("sentinel two dbs") << "redis+sentinel://s1/mymaster/1/2"
                                      << "database";
    QTest::newRow("sentinel bad port") << "redis+sentinel://s1:26379,s2:99999/mymaster"
                                       << "port";
    QTest::newRow("sentinel empty host") << "redis+sentinel://s1,,s3/mymaster"
                                         << "host is missing";
    QTest::newRow("sentinel no host") << "redis+sentinel:///mymaster"
                                      << "host is missing";
    QTest::newRow("sentinel user without password") << "redis+sentinel://alice@s1/mymaster"
                                                    << "credentials";
    QTest::newRow("sentinel query") << "redis+sentinel://s1/mymaster?db=1"
                                    << "no query";
    // Sentinel's own configuration cannot name a master with a space, and the name goes into logs.
    QTest::newRow("sentinel, encoded space in the name") << "redis+sentinel://s1/my%20master"
                                                         << "not allowed";
    QTest::newRow("sentinel, encoded line break in the name") << "redis+sentinel://s1/a%0Ab"
                                                              << "not allowed";
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

void tst_RedisUrl::multipleHosts_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QStringList>("hosts");
    QTest::addColumn<QString>("username");
    QTest::addColumn<QString>("password");
    QTest::addColumn<int>("database");

    QTest::newRow("two hosts") << "redis://h1:7000,h2:7001" << list({"h1:7000", "h2:7001"}) << ""
                               << "" << 0;
    QTest::newRow("three hosts and a db") << "redis://10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002/2"
                                          << list({"10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002"}) << ""
                                          << "" << 2;
    QTest::newRow("default ports") << "redis://h1,h2:7001,h3" << list({"h1:6379", "h2:7001", "h3:6379"}) << ""
                                   << "" << 0;
    QTest::newRow("credentials apply to every host")
        << "redis://alice:s3cret@h1:7000,h2:7001/1" << list({"h1:7000", "h2:7001"}) << "alice"
        << "s3cret" << 1;
    QTest::newRow("password only") << "redis://:p%40ss@h1,h2" << list({"h1:6379", "h2:6379"}) << ""
                                   << "p@ss" << 0;
    QTest::newRow("ipv6 hosts") << "redis://[::1]:7000,[fe80::2]:7001,127.0.0.1:7002"
                                << list({"[::1]:7000", "[fe80::2]:7001", "127.0.0.1:7002"}) << ""
                                << "" << 0;
    QTest::newRow("the same host twice") << "redis://h:1,h:1" << list({"h:1", "h:1"}) << ""
                                         << "" << 0;
    QTest::newRow("64 hosts") << QStringLiteral("redis://")
            + QStringList(64, QStringLiteral("h:5")).join(u',')
                              << QStringList(64, QStringLiteral("h:5")) << ""
                              << "" << 0;
}

void tst_RedisUrl::multipleHosts()
{
    QFETCH(QString, url);
    QFETCH(QStringList, hosts);
    QFETCH(QString, username);
    QFETCH(QString, password);
    QFETCH(int, database);
    QString error;
    const auto parsed = RedisUrl::parse(url, &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->transport, RedisUrl::Transport::Tcp);
    QVERIFY(!parsed->sentinel);
    QVERIFY(parsed->masterName.isEmpty());
    // The first host is host and port; the others are moreHosts, in order; addresses() is all of them.
    QCOMPARE(hostsOf(*parsed), hosts);
    QCOMPARE(RedisUrl::Address({parsed->host, parsed->port}).toString(), hosts.first());
    QCOMPARE(parsed->moreHosts.size(), hosts.size() - 1);
    for (qsizetype i = 1; i < hosts.size(); ++i)
        QCOMPARE(parsed->moreHosts[i - 1].toString(), hosts[i]);
    QCOMPARE(parsed->username, username);
    QCOMPARE(parsed->password, password);
    QCOMPARE(parsed->database, database);
}

void tst_RedisUrl::sentinel_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QStringList>("sentinels");
    QTest::addColumn<QString>("master");
    QTest::addColumn<QString>("username");
    QTest::addColumn<QString>("password");
    QTest::addColumn<int>("database");

    QTest::newRow("one sentinel, default port")
        << "redis+sentinel://s1/mymaster" << list({"s1:26379"}) << "mymaster"
        << ""
        << "" << 0;
    QTest::newRow("three sentinels")
        << "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380,10.0.0.3:26381/cachedash"
        << list({"10.0.0.1:26379", "10.0.0.2:26380", "10.0.0.3:26381"}) << "cachedash"
        << ""
        << "" << 0;
    QTest::newRow("default port for each")
        << "redis+sentinel://s1,s2:5000,s3/m" << list({"s1:26379", "s2:5000", "s3:26379"}) << "m"
        << ""
        << "" << 0;
    QTest::newRow("db after the name")
        << "redis+sentinel://s1:26379/mymaster/3" << list({"s1:26379"}) << "mymaster"
        << ""
        << "" << 3;
    QTest::newRow("trailing slash after the name")
        << "redis+sentinel://s1/mymaster/" << list({"s1:26379"}) << "mymaster"
        << ""
        << "" << 0;
    QTest::newRow("user and password") << "redis+sentinel://alice:s3cret@s1:26379,s2:26380/mymaster/2"
                                       << list({"s1:26379", "s2:26380"}) << "mymaster"
                                       << "alice"
                                       << "s3cret" << 2;
    QTest::newRow("password only") << "redis+sentinel://:s3cret@s1/mymaster" << list({"s1:26379"})
                                   << "mymaster"
                                   << ""
                                   << "s3cret" << 0;
    QTest::newRow("percent-encoded password")
        << "redis+sentinel://:a%2Fb%40c@s1/m" << list({"s1:26379"}) << "m"
        << ""
        << "a/b@c" << 0;
    QTest::newRow("upper-case scheme") << "REDIS+SENTINEL://s1:1/M" << list({"s1:1"}) << "M"
                                       << ""
                                       << "" << 0;
    QTest::newRow("ipv6 sentinel") << "redis+sentinel://[::1]:26379,[::1]/mymaster"
                                   << list({"[::1]:26379", "[::1]:26379"}) << "mymaster"
                                   << ""
                                   << "" << 0;
    QTest::newRow("name with dots and dashes")
        << "redis+sentinel://s1/cache-01.eu_west" << list({"s1:26379"}) << "cache-01.eu_west"
        << ""
        << "" << 0;
}

void tst_RedisUrl::sentinel()
{
    QFETCH(QString, url);
    QFETCH(QStringList, sentinels);
    QFETCH(QString, master);
    QFETCH(QString, username);
    QFETCH(QString, password);
    QFETCH(int, database);
    QString error;
    const auto parsed = RedisUrl::parse(url, &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->transport, RedisUrl::Transport::Tcp);
    QVERIFY(parsed->sentinel);
    QCOMPARE(hostsOf(*parsed), sentinels);
    QCOMPARE(parsed->moreHosts.size(), sentinels.size() - 1);
    QCOMPARE(parsed->masterName, master);
    QCOMPARE(parsed->username, username);
    QCOMPARE(parsed->password, password);
    QCOMPARE(parsed->database, database);
}

void tst_RedisUrl::displayStringRoundTrips_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("display");

    QTest::newRow("one host") << "redis://alice:topsecret@h:7/2"
                              << "redis://h:7/2";
    QTest::newRow("default port shown") << "redis://h"
                                        << "redis://h:6379";
    QTest::newRow("several hosts") << "redis://alice:topsecret@h1:7000,h2,h3:7002/5"
                                   << "redis://h1:7000,h2:6379,h3:7002/5";
    QTest::newRow("several hosts, password only") << "redis://:topsecret@h1:7000,[::1]:7001"
                                                  << "redis://h1:7000,[::1]:7001";
    QTest::newRow("sentinel") << "redis+sentinel://s1,s2:26380/mymaster"
                              << "redis+sentinel://s1:26379,s2:26380/mymaster";
    QTest::newRow("sentinel with db and credentials")
        << "redis+sentinel://alice:topsecret@s1:1,s2:2/mymaster/4"
        << "redis+sentinel://s1:1,s2:2/mymaster/4";
    QTest::newRow("sentinel, password only") << "redis+sentinel://:topsecret@s1/mymaster"
                                             << "redis+sentinel://s1:26379/mymaster";
    QTest::newRow("unix") << "unix:///tmp/r.sock?db=3"
                          << "unix:///tmp/r.sock?db=3";
    // The master name is percent-decoded when parsed: shown, it must be encoded again, or the
    // text shown names another master (or is no URL at all).
    QTest::newRow("sentinel, encoded slash in the name") << "redis+sentinel://s1/team%2Fcache/1"
                                                         << "redis+sentinel://s1:26379/team%2Fcache/1";
}

void tst_RedisUrl::displayStringRoundTrips()
{
    QFETCH(QString, url);
    QFETCH(QString, display);
    const auto parsed = RedisUrl::parse(url);
    QVERIFY(parsed);
    const QString shown = parsed->toDisplayString();
    QCOMPARE(shown, display);
    QVERIFY2(!shown.contains(QStringLiteral("topsecret")), qPrintable(shown));
    QVERIFY2(!shown.contains(QStringLiteral("alice")), qPrintable(shown));
    QVERIFY2(!shown.contains(u'@'), qPrintable(shown));
    // What is shown is a URL of the same servers, master and database, without the credentials.
    QString error;
    const auto again = RedisUrl::parse(shown, &error);
    QVERIFY2(again, qPrintable(error));
    RedisUrl anonymous = *parsed;
    anonymous.username.clear();
    anonymous.password.clear();
    QCOMPARE(hostsOf(*again), hostsOf(anonymous));
    QCOMPARE(again->masterName, anonymous.masterName);
    QCOMPARE(again->database, anonymous.database);
    QVERIFY(*again == anonymous);
    QCOMPARE(again->toDisplayString(), shown);
}

void tst_RedisUrl::withAddressKeepsCredentialsAndDatabase()
{
    const auto sentinel = RedisUrl::parse(QStringLiteral("redis+sentinel://alice:pw@s1,s2:5/mymaster/3"));
    QVERIFY(sentinel);
    // The master a sentinel named: that one server, with the master's credentials and database.
    const RedisUrl master = sentinel->withAddress({QStringLiteral("10.0.0.7"), 6380});
    QCOMPARE(master.transport, RedisUrl::Transport::Tcp);
    QCOMPARE(master.host, QStringLiteral("10.0.0.7"));
    QCOMPARE(master.port, quint16(6380));
    QVERIFY(master.moreHosts.isEmpty());
    QVERIFY(!master.sentinel);
    QVERIFY(master.masterName.isEmpty());
    QCOMPARE(master.username, QStringLiteral("alice"));
    QCOMPARE(master.password, QStringLiteral("pw"));
    QCOMPARE(master.database, 3);
    QCOMPARE(master.toDisplayString(), QStringLiteral("redis://10.0.0.7:6380/3"));

    const auto seeds = RedisUrl::parse(QStringLiteral("redis://:pw@h1:7000,h2:7001"));
    QVERIFY(seeds);
    const RedisUrl second = seeds->withAddress(seeds->moreHosts.first());
    QCOMPARE(hostsOf(second), QStringList{QStringLiteral("h2:7001")});
    QCOMPARE(second.password, QStringLiteral("pw"));
}

QTEST_GUILESS_MAIN(tst_RedisUrl)
void tst_RedisUrl::tls_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<bool>("tls");
    QTest::addColumn<bool>("sentinel");
    QTest::addColumn<QString>("display");

    QTest::newRow("plain") << "redis://h:1" << false << false << "redis://h:1";
    QTest::newRow("tls") << "rediss://:pw@cache.example.com:6380/2" << true << false
                         << "rediss://cache.example.com:6380/2";
    QTest::newRow("tls, upper case scheme") << "REDISS://h" << true << false << "rediss://h:6379";
    QTest::newRow("tls cluster seeds")
        << "rediss://a:7000,b:7001" << true << false << "rediss://a:7000,b:7001";
    QTest::newRow("tls sentinels") << "rediss+sentinel://u:pw@s1,s2:5000/main" << true << true
                                   << "rediss+sentinel://s1:26379,s2:5000/main";
}

void tst_RedisUrl::tls()
{
    QFETCH(QString, url);
    QFETCH(bool, tls);
    QFETCH(bool, sentinel);
    QFETCH(QString, display);

    QString error;
    const auto parsed = RedisUrl::parse(url, &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->tls, tls);
    QCOMPARE(parsed->sentinel, sentinel);
    QCOMPARE(parsed->toDisplayString(), display);
    // Every node, sentinel and master reached from it speaks TLS too.
    QCOMPARE(parsed->withAddress({QStringLiteral("10.0.0.9"), 7005}).tls, tls);
    // And the display string parses back to the same kind of connection.
    const auto again = RedisUrl::parse(parsed->toDisplayString());
    QVERIFY(again);
    QCOMPARE(again->tls, tls);
}

#include "tst_redisurl.moc"
