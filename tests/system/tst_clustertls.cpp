// SPDX-License-Identifier: GPL-3.0-or-later
// The service's contract over a real Redis Cluster that speaks TLS (3 primaries, 3 replicas; TLS
// for clients, on the cluster bus and for replication): given one rediss:// seed and the test CA,
// the service finds every primary through CLUSTER SLOTS, which over TLS names the TLS ports, and
// reaches each over TLS; cache-aside and the limiter work with keys on every primary; /healthz
// shows every node up over TLS; and a MOVED, which names a TLS port too, is followed over TLS.
//
// One cluster serves every test; the test that moves a slot comes last. Each node keeps a plain
// port for the fixture, which checks what the service stored there.
#include "cache/reportcache.h"
#include "cache/reportsource.h"
#include "ratelimit/ratelimiter.h"
#include "ratelimit/ratelimits.h"
#include "redis/keyslot.h"
#include "redis/redisrouter.h"
#include "testlib/testcertificates.h"
#include "testlib/testhttp.h"
#include "testlib/testrediscluster.h"
#include "testlib/testservice.h"
#include "testlib/testserviceoptions.h"
#include "testlib/testwait.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonObject>
#include <QLoggingCategory>
#include <QSet>
#include <QTest>

using namespace std::chrono_literals;
using namespace Cachedash;
using namespace Cachedash::Test;

namespace {

constexpr std::chrono::milliseconds kNodeTimeout{1000};

} // namespace

class tst_ClusterTls : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();

    void cacheAsideOnEveryPrimary();
    void limiterOnEveryPrimary();
    void healthzShowsEveryNodeOverTls();
    // Changes the cluster: comes last.
    void movedLeadsToATlsPort();

private:
    ServiceOptions options() const;
    QList<int> primaries() const;
    // 127.0.0.1:TLSPORT of node `index`: the address a TLS client is told about.
    QString tlsAddress(int index) const;
    int ownerOf(const QByteArray &key) const { return m_cluster.primaryFor(keySlot(key)); }
    // A region named `prefix` and a number whose report key lives on primary `node`.
    QString regionOn(int node, const QString &prefix) const;

    TestCertificates m_certs;
    TestRedisCluster m_cluster;
};

void tst_ClusterTls::initTestCase()
{
    QLoggingCategory::setFilterRules(QStringLiteral("cachedash.access.info=false\n"
                                                    "cachedash.api.info=false\n"
                                                    "cachedash.cache.info=false"));
    QElapsedTimer timer;
    timer.start();
    QVERIFY2(m_certs.create(), qPrintable(m_certs.errorString()));
    const qint64 certsMs = timer.restart();
    QVERIFY2(m_cluster.start(3, 1, kNodeTimeout, &m_certs), qPrintable(m_cluster.errorString()));
    qInfo("certificates made in %lld ms, TLS cluster of %d nodes up in %lld ms", certsMs, m_cluster.size(),
        timer.elapsed());
    // Each replica follows its primary over TLS: it was told the primary's TLS port.
    for (int i = 3; i < m_cluster.size(); ++i)
        QCOMPARE(m_cluster.server(i).info("replication", "master_port").toInt(),
            int(m_cluster.node(m_cluster.node(i).primary).tlsPort));
}

void tst_ClusterTls::init()
{
    for (int p : primaries())
        QCOMPARE(m_cluster.server(p).command({"FLUSHALL"}), QByteArray("OK"));
}

ServiceOptions tst_ClusterTls::options() const
{
    ServiceOptions o = testServiceOptions(m_cluster.server(0));
    o.redisUrl = RedisUrl::parse(m_cluster.tlsUrl(0)).value();
    o.redisTls.caCertFile = m_certs.caCert();
    o.reportDelay = 100ms;
    return o;
}

QList<int> tst_ClusterTls::primaries() const
{
    QList<int> out;
    for (int i = 0; i < m_cluster.size(); ++i) {
        if (m_cluster.server(i).info("replication", "role") == "master")
            out << i;
    }
    return out;
}

QString tst_ClusterTls::tlsAddress(int index) const
{
    return QStringLiteral("127.0.0.1:%1").arg(m_cluster.node(index).tlsPort);
}

QString tst_ClusterTls::regionOn(int node, const QString &prefix) const
{
    for (int i = 0; i < 1000; ++i) {
        const QString region = prefix + QString::number(i);
        if (ownerOf(ReportCache::keyFor(region)) == node)
            return region;
    }
    return {};
}

void tst_ClusterTls::cacheAsideOnEveryPrimary()
{
    TestService service;
    QVERIFY2(service.start(options()), qPrintable(service.errorString()));
    QCOMPARE(service->redis().mode(), RedisRouter::Mode::Cluster);
    QCOMPARE(service->redis().describe(), QStringLiteral("cluster, 3 primaries"));
    QVERIFY2(service->redis().transport().startsWith(QLatin1String("TLS")),
        qPrintable(service->redis().transport()));
    TestHttp http{service.baseUrl()};
    const QList<int> nodes = primaries();
    QCOMPARE(nodes.size(), 3);
    for (int p : nodes) {
        const QString region = regionOn(p, QStringLiteral("tls"));
        QVERIFY2(!region.isEmpty(), qPrintable(QStringLiteral("no region found on node %1").arg(p)));
        const QByteArray key = ReportCache::keyFor(region);
        // The router sends the key to the primary's TLS port, as CLUSTER SLOTS over TLS named it.
        QCOMPARE(service->redis().nodeFor(key), tlsAddress(p));
        const QString path = QStringLiteral("/reports/") + region;
        const QList<std::pair<QByteArray, QByteArray>> me{
            {"X-Forwarded-For", "198.18.0." + QByteArray::number(p + 1)}};

        const HttpResult miss = http.get(path, me);
        QCOMPARE(miss.status, 200);
        QCOMPARE(miss.header("x-cache"), QByteArray("MISS"));
        QCOMPARE(miss.json().value(QLatin1String("cached")), QJsonValue(false));
        const HttpResult hit = http.get(path, me);
        QCOMPARE(hit.status, 200);
        QCOMPARE(hit.header("x-cache"), QByteArray("HIT"));
        QCOMPARE(hit.json().value(QLatin1String("cached")), QJsonValue(true));
        QCOMPARE(hit.json().value(QLatin1String("generated_at")),
            miss.json().value(QLatin1String("generated_at")));
        // Stored on that primary, and replicated over TLS to its replica.
        QCOMPARE(m_cluster.server(p).command({"EXISTS", key}), QByteArray("1"));
        int replica = -1;
        for (int i = 0; i < m_cluster.size(); ++i) {
            if (m_cluster.node(i).primary == p)
                replica = i;
        }
        QVERIFY(replica >= 0);
        const QByteArray slot = QByteArray::number(keySlot(key));
        QVERIFY(waitUntil(
            [&] {
                return m_cluster.server(replica).command({"CLUSTER", "COUNTKEYSINSLOT", slot}).toInt() >= 1;
            },
            3000));

        const HttpResult refresh = http.post(path + QStringLiteral("/refresh"));
        QCOMPARE(refresh.status, 200);
        QCOMPARE(refresh.body, QByteArray("{\"invalidated\":true}"));
        QCOMPARE(m_cluster.server(p).command({"EXISTS", key}), QByteArray("0"));
        const HttpResult again = http.get(path, me);
        QCOMPARE(again.status, 200);
        QCOMPARE(again.header("x-cache"), QByteArray("MISS"));
        QCOMPARE(again.json().value(QLatin1String("cached")), QJsonValue(false));
        QVERIFY(again.json().value(QLatin1String("generated_at"))
            != miss.json().value(QLatin1String("generated_at")));
    }
    QCOMPARE(service->source().computations(), 6u);
    QCOMPARE(service->redis().stats().moved, 0u); // the map was right from the start
}

void tst_ClusterTls::limiterOnEveryPrimary()
{
    TestService service;
    QVERIFY2(service.start(options()), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    for (int p : primaries()) {
        // A client whose sliding window lives on primary p.
        QByteArray client;
        for (int n = 1; n < 1000 && client.isEmpty(); ++n) {
            const QByteArray ip
                = "198.19." + QByteArray::number(n / 250) + '.' + QByteArray::number(n % 250 + 1);
            if (ownerOf(RateLimiter::keyFor(QString::fromLatin1(ip))) == p)
                client = ip;
        }
        QVERIFY(!client.isEmpty());
        const QByteArray key = RateLimiter::keyFor(QString::fromLatin1(client));
        QCOMPARE(service->redis().nodeFor(key), tlsAddress(p));
        const QList<std::pair<QByteArray, QByteArray>> me{{"X-Forwarded-For", client}};
        for (int i = 0; i < 5; ++i)
            QCOMPARE(http.get(QStringLiteral("/reports/limits"), me).status, 200);
        const HttpResult refused = http.get(QStringLiteral("/reports/limits"), me);
        QCOMPARE(refused.status, 429);
        const int retryAfter = refused.header("retry-after").toInt();
        QVERIFY2(retryAfter >= 1 && retryAfter <= 10, refused.header("retry-after").constData());
        QCOMPARE(refused.header("ratelimit-remaining"), QByteArray("0"));
        QCOMPARE(m_cluster.server(p).command({"ZCARD", key}), QByteArray("5"));
    }
    QCOMPARE(service->rateLimits().reports().counters().limited, 3u);
    QCOMPARE(service->rateLimits().reports().counters().errors, 0u);
}

void tst_ClusterTls::healthzShowsEveryNodeOverTls()
{
    TestService service;
    QVERIFY2(service.start(options()), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    const HttpResult health = http.get(QStringLiteral("/healthz"));
    QCOMPARE(health.status, 200);
    const QJsonObject body = health.json();
    QCOMPARE(body.value(QLatin1String("status")).toString(), QStringLiteral("ok"));
    QCOMPARE(body.value(QLatin1String("mode")).toString(), QStringLiteral("cluster, 3 primaries"));
    const QString transport = body.value(QLatin1String("transport")).toString();
    QVERIFY2(transport.startsWith(QLatin1String("TLS")), qPrintable(transport));
    QSet<QString> expected;
    for (int p : primaries())
        expected.insert(tlsAddress(p));
    QSet<QString> seen;
    const QJsonArray nodes = body.value(QLatin1String("nodes")).toArray();
    for (const QJsonValue &value : nodes) {
        const QJsonObject node = value.toObject();
        QVERIFY2(node.value(QLatin1String("up")).toBool(), health.body.constData());
        QCOMPARE(node.value(QLatin1String("role")).toString(), QStringLiteral("primary"));
        seen.insert(node.value(QLatin1String("address")).toString());
    }
    QCOMPARE(nodes.size(), 3);
    QCOMPARE(seen, expected);
}

void tst_ClusterTls::movedLeadsToATlsPort()
{
    TestService service;
    QVERIFY2(service.start(options()), qPrintable(service.errorString()));
    TestHttp http{service.baseUrl()};
    const QList<int> nodes = primaries();
    QCOMPARE(nodes.size(), 3);
    const int from = nodes[0];
    const int to = nodes[1];
    const QString region = regionOn(from, QStringLiteral("moving"));
    const QByteArray key = ReportCache::keyFor(region);
    const QByteArray slot = QByteArray::number(keySlot(key));
    QCOMPARE(service->redis().nodeFor(key), tlsAddress(from));
    // The slot is empty: it can be handed over at once, on every primary, the target first.
    QList<int> order{to, from};
    for (int p : nodes) {
        if (!order.contains(p))
            order << p;
    }
    for (int p : std::as_const(order))
        QCOMPARE(m_cluster.server(p).command({"CLUSTER", "SETSLOT", slot, "NODE", m_cluster.node(to).id}),
            QByteArray("OK"));
    // The old owner now redirects a TLS client to the new owner's TLS port.
    QCOMPARE(m_cluster.primaryFor(keySlot(key), from), to);

    // The service still has the old map: its request meets the MOVED and follows it over TLS.
    const HttpResult miss = http.get(QStringLiteral("/reports/") + region);
    QCOMPARE(miss.status, 200);
    QCOMPARE(miss.header("x-cache"), QByteArray("MISS"));
    const HttpResult hit = http.get(QStringLiteral("/reports/") + region);
    QCOMPARE(hit.header("x-cache"), QByteArray("HIT"));
    QVERIFY(service->redis().stats().moved >= 1);
    QCOMPARE(service->redis().nodeFor(key), tlsAddress(to));
    QCOMPARE(m_cluster.server(to).command({"EXISTS", key}), QByteArray("1"));
    QVERIFY(m_cluster.server(from).command({"EXISTS", key}).startsWith("(error) MOVED "));
}

QTEST_GUILESS_MAIN(tst_ClusterTls)
#include "tst_clustertls.moc"
