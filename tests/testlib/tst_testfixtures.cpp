// SPDX-License-Identifier: GPL-3.0-or-later
#include "testcertificates.h"
#include "testrediscluster.h"
#include "testredissentinel.h"
#include "testwait.h"

#include <QElapsedTimer>
#include <QProcess>
#include <QTest>

using namespace Cachedash::Test;
using namespace std::chrono_literals;

// The cluster and Sentinel fixtures come up whole, and fail over when a master dies.
class tst_TestFixtures : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void clusterCoversEverySlotAndFailsOver();
    void sentinelFailsOver();
    void tlsCertificatesAndServer();
};

namespace {
// Runs a program to its end: its exit code and output (stdout and stderr), or -1 if it did not run.
std::pair<int, QByteArray> run(const QString &program, const QStringList &args)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(program, args);
    if (!process.waitForFinished(20000))
        return {-1, process.errorString().toUtf8()};
    return {process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1, process.readAll()};
}
} // namespace

void tst_TestFixtures::clusterCoversEverySlotAndFailsOver()
{
    TestRedisCluster cluster;
    QVERIFY2(cluster.start(3, 1, 1000ms), qPrintable(cluster.errorString()));
    // The slots split evenly, in order: 0-5460, 5461-10921, 10922-16383.
    const std::pair<int, int> owners[] = {{0, 0}, {5460, 0}, {5461, 1}, {10921, 1}, {10922, 2}, {16383, 2}};
    for (const auto &[slot, expected] : owners) {
        const int owner = cluster.primaryFor(slot);
        QCOMPARE(owner, expected);
        QCOMPARE(cluster.primaryFor(slot, 4), owner); // every node sees the same map
    }
    // Primary 0 dies: its replica (node 3) takes its slots within the node timeout and an election.
    QElapsedTimer timer;
    timer.start();
    cluster.server(0).kill();
    QVERIFY(waitUntil([&] { return cluster.primaryFor(0, 1) == 3; }, 10000));
    QVERIFY(cluster.waitUntilOk(10s));
    qInfo("cluster failover took %lld ms", qint64(timer.elapsed()));
    QCOMPARE(cluster.server(3).info("replication", "role"), QByteArray("master"));
}

void tst_TestFixtures::sentinelFailsOver()
{
    TestRedisSentinel setup;
    QVERIFY2(setup.start(1000ms, 3000ms), qPrintable(setup.errorString()));
    QCOMPARE(setup.sentinelCount(), 3);
    for (int s = 0; s < 3; ++s)
        QCOMPARE(setup.masterPort(s), setup.server(0).port());
    QVERIFY(setup.url().startsWith(QStringLiteral("redis+sentinel://127.0.0.1:")));
    QVERIFY(setup.url().endsWith(QStringLiteral("/cachedash")));
    QElapsedTimer timer;
    timer.start();
    setup.server(0).kill();
    QVERIFY(waitUntil([&] { return setup.masterPort(0) == setup.server(1).port(); }, 15000));
    QVERIFY(waitUntil([&] { return setup.server(1).info("replication", "role") == "master"; }, 5000));
    qInfo("sentinel failover took %lld ms", qint64(timer.elapsed()));
}

// The certificates verify as they should (the server's for localhost and 127.0.0.1 only, the
// other one for its own name), and a TLS redis-server on them asks for the client certificate.
void tst_TestFixtures::tlsCertificatesAndServer()
{
    TestCertificates certs;
    QVERIFY2(certs.create(), qPrintable(certs.errorString()));
    auto verify = [&](const QString &cert, const QStringList &check) {
        return run(QStringLiteral("openssl"),
            QStringList{QStringLiteral("verify"), QStringLiteral("-CAfile"), certs.caCert()} + check
                + QStringList{cert});
    };
    QCOMPARE(
        verify(certs.serverCert(), {QStringLiteral("-verify_hostname"), QStringLiteral("localhost")}).first,
        0);
    QCOMPARE(
        verify(certs.serverCert(), {QStringLiteral("-verify_ip"), QStringLiteral("127.0.0.1")}).first, 0);
    QVERIFY(verify(certs.otherCert(), {QStringLiteral("-verify_hostname"), QStringLiteral("localhost")}).first
        != 0);
    QCOMPARE(
        verify(certs.otherCert(), {QStringLiteral("-verify_hostname"), QStringLiteral("elsewhere.example")})
            .first,
        0);
    QCOMPARE(verify(certs.clientCert(), {QStringLiteral("-purpose"), QStringLiteral("sslclient")}).first, 0);

    TestRedisServer tls;
    const quint16 port = TestRedisServer::freeLoopbackPort();
    QVERIFY2(tls.start(certs.redisServerArgs(port, QStringLiteral("yes"))), qPrintable(tls.errorString()));
    const QStringList base{QStringLiteral("--tls"), QStringLiteral("--cacert"), certs.caCert(),
        QStringLiteral("-h"), QStringLiteral("127.0.0.1"), QStringLiteral("-p"), QString::number(port)};
    const auto withClient = run(QStringLiteral("redis-cli"),
        base
            + QStringList{QStringLiteral("--cert"), certs.clientCert(), QStringLiteral("--key"),
                certs.clientKey(), QStringLiteral("PING")});
    QCOMPARE(withClient.second.trimmed(), QByteArray("PONG"));
    const auto without = run(QStringLiteral("redis-cli"), base + QStringList{QStringLiteral("PING")});
    QVERIFY2(!without.second.contains("PONG"), without.second.constData());
}

QTEST_GUILESS_MAIN(tst_TestFixtures)
#include "tst_testfixtures.moc"
