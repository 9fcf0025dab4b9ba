// SPDX-License-Identifier: GPL-3.0-or-later
// The cachedash binary as a user or a script runs it: --headless, its one "Listening on" line,
// clean exits on signals, and clear errors.
#include "testlib/testcertificates.h"
#include "testlib/testhttp.h"
#include "testlib/testredisserver.h"

#include <QElapsedTimer>
#include <QProcess>
#include <QRegularExpression>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>

using Cachedash::Test::TestCertificates;
using Cachedash::Test::TestHttp;
using Cachedash::Test::TestRedisServer;

class tst_Headless : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void listensServesAndStops_data();
    void listensServesAndStops();
    void noDisplayMeansHeadless();
    void privateRedisStopsWithUs();
    void credentialsNeverShow();
    void warnsWhenExposedWithoutAdminToken();
    void portInUse();
    void explicitRedisUnreachable();
    void explicitRedisWantsAPassword_data();
    void explicitRedisWantsAPassword();
    void plainUrlToATlsPort();
    void invalidOptions_data();
    void invalidOptions();
    void helpAndVersion();

private:
    TestRedisServer m_redis;
};

void tst_Headless::initTestCase()
{
    QVERIFY2(m_redis.start(), qPrintable(m_redis.errorString()));
}

void tst_Headless::listensServesAndStops_data()
{
    QTest::addColumn<int>("signalNumber");
    QTest::newRow("SIGTERM") << int(SIGTERM);
    QTest::newRow("SIGINT") << int(SIGINT);
}

void tst_Headless::listensServesAndStops()
{
    QFETCH(int, signalNumber);
    QCOMPARE(m_redis.command({"FLUSHALL"}), QByteArray("OK"));
    QProcess process;
    process.start(QStringLiteral(CACHEDASH_BINARY),
        {QStringLiteral("--headless"), QStringLiteral("--port"), QStringLiteral("0"),
            QStringLiteral("--redis-url"), m_redis.url()});
    QVERIFY(process.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(process.canReadLine(), 5000);
    const QString line = QString::fromUtf8(process.readLine()).trimmed();
    const QRegularExpressionMatch match
        = QRegularExpression(QStringLiteral("^Listening on http://127\\.0\\.0\\.1:(\\d+)$")).match(line);
    QVERIFY2(match.hasMatch(), qPrintable(line));
    TestHttp http{QUrl(QStringLiteral("http://127.0.0.1:%1").arg(match.captured(1)))};
    QCOMPARE(http.get(QStringLiteral("/healthz")).status, 200);
    QCOMPARE(http.get(QStringLiteral("/reports/cli")).status, 200);

    ::kill(pid_t(process.processId()), signalNumber);
    QVERIFY(process.waitForFinished(3000));
    QCOMPARE(process.exitStatus(), QProcess::NormalExit);
    QCOMPARE(process.exitCode(), 0);
    // Headless mode logs one access line per request.
    const QString log = QString::fromUtf8(process.readAllStandardError());
    QVERIFY2(log.contains(QStringLiteral("GET /reports/cli 200 MISS")), qPrintable(log));
}

void tst_Headless::noDisplayMeansHeadless()
{
    QProcess process;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("DISPLAY"));
    env.remove(QStringLiteral("WAYLAND_DISPLAY"));
    env.remove(QStringLiteral("QT_QPA_PLATFORM"));
    process.setProcessEnvironment(env);
    process.start(QStringLiteral(CACHEDASH_BINARY),
        {QStringLiteral("--port"), QStringLiteral("0"), QStringLiteral("--redis-url"), m_redis.url()});
    QVERIFY(process.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(process.canReadLine(), 5000);
    QVERIFY(process.readLine().startsWith("Listening on http://127.0.0.1:"));
    const QByteArray firstLine = process.readAllStandardError().split('\n').first();
    QVERIFY2(
        firstLine.contains("no display") && firstLine.contains("running headless"), firstLine.constData());
    process.terminate();
    QVERIFY(process.waitForFinished(3000));
    QCOMPARE(process.exitCode(), 0);
}

void tst_Headless::privateRedisStopsWithUs()
{
    // The private server's directory goes under a temporary directory of the test's own: after the
    // SIGKILL below nothing else would remove it.
    QTemporaryDir scratch;
    QVERIFY(scratch.isValid());
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("TMPDIR"), scratch.path());
    QProcess process;
    process.setProcessEnvironment(environment);
    process.start(QStringLiteral(CACHEDASH_BINARY),
        {QStringLiteral("--headless"), QStringLiteral("--port"), QStringLiteral("0"),
            QStringLiteral("--private-redis")});
    QVERIFY(process.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(process.canReadLine(), 5000);
    const QString listening = QString::fromUtf8(process.readLine()).trimmed();
    const QString base = listening.section(u' ', 2);
    TestHttp http{QUrl(base)};
    QCOMPARE(http.get(QStringLiteral("/reports/private")).status, 200);
    const QString log = QString::fromUtf8(process.readAllStandardError());
    const QRegularExpressionMatch match = QRegularExpression(
        QStringLiteral("starting a private redis-server at redis://127\\.0\\.0\\.1:(\\d+)"))
                                              .match(log);
    QVERIFY2(match.hasMatch(), qPrintable(log));
    const quint16 port = quint16(match.captured(1).toUInt());

    auto answers = [port] {
        QTcpSocket probe;
        probe.connectToHost(QHostAddress::LocalHost, port);
        if (!probe.waitForConnected(500))
            return false;
        probe.write("PING\r\n");
        return probe.waitForReadyRead(500) && probe.readAll().startsWith("+PONG");
    };
    QVERIFY(answers());
    // SIGKILL gives cachedash no chance to clean up: the kernel still stops its redis-server.
    process.kill();
    QVERIFY(process.waitForFinished(3000));
    QTRY_VERIFY_WITH_TIMEOUT(!answers(), 3000);
}

void tst_Headless::credentialsNeverShow()
{
    const QString secret = QStringLiteral("s3cr3t-Pa55word");
    TestRedisServer secured;
    QVERIFY2(secured.start({QStringLiteral("--requirepass"), secret}), qPrintable(secured.errorString()));
    QProcess process;
    process.start(QStringLiteral(CACHEDASH_BINARY),
        {QStringLiteral("--headless"), QStringLiteral("--port"), QStringLiteral("0"),
            QStringLiteral("--redis-url"),
            QStringLiteral("redis://:%1@127.0.0.1:%2").arg(secret).arg(secured.port())});
    QVERIFY(process.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(process.canReadLine(), 5000);
    const QString base = QString::fromUtf8(process.readLine()).trimmed().section(u' ', 2);
    TestHttp http{QUrl(base)};
    QByteArray everything;
    for (const char *path : {"/reports/secret", "/healthz", "/metrics", "/nope"})
        everything += http.get(QString::fromLatin1(path)).body;
    ::kill(pid_t(process.processId()), SIGTERM);
    QVERIFY(process.waitForFinished(3000));
    everything += process.readAllStandardOutput() + process.readAllStandardError();
    QVERIFY(everything.contains("redis://127.0.0.1:")); // the URL is shown...
    QVERIFY(!everything.contains(secret.toUtf8())); // ...never its password
}

void tst_Headless::warnsWhenExposedWithoutAdminToken()
{
    QProcess process;
    process.start(QStringLiteral(CACHEDASH_BINARY),
        {QStringLiteral("--headless"), QStringLiteral("--bind"), QStringLiteral("0.0.0.0"),
            QStringLiteral("--port"), QStringLiteral("0"), QStringLiteral("--redis-url"), m_redis.url()});
    QVERIFY(process.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(process.canReadLine(), 5000);
    ::kill(pid_t(process.processId()), SIGTERM);
    QVERIFY(process.waitForFinished(3000));
    const QByteArray log = process.readAllStandardError();
    QVERIFY2(log.contains("listening on 0.0.0.0 without --admin-token"), log.constData());
}

void tst_Headless::portInUse()
{
    QTcpServer taken;
    QVERIFY(taken.listen(QHostAddress::LocalHost, 0));
    QProcess process;
    QElapsedTimer timer;
    timer.start();
    process.start(QStringLiteral(CACHEDASH_BINARY),
        {QStringLiteral("--headless"), QStringLiteral("--port"), QString::number(taken.serverPort()),
            QStringLiteral("--redis-url"), m_redis.url()});
    QVERIFY(process.waitForFinished(3000));
    QVERIFY(process.exitCode() != 0);
    const QStringList lines = QString::fromUtf8(process.readAllStandardError()).trimmed().split(u'\n');
    QCOMPARE(lines.size(), 1);
    QVERIFY2(lines.first().contains(QStringLiteral("cannot listen on 127.0.0.1:%1").arg(taken.serverPort())),
        qPrintable(lines.first()));
    QVERIFY(process.readAllStandardOutput().isEmpty());
}

void tst_Headless::explicitRedisUnreachable()
{
    TestRedisServer gone;
    QVERIFY2(gone.start(), qPrintable(gone.errorString()));
    const QString url = gone.url();
    gone.stop();
    QProcess process;
    QElapsedTimer timer;
    timer.start();
    process.start(QStringLiteral(CACHEDASH_BINARY),
        {QStringLiteral("--headless"), QStringLiteral("--port"), QStringLiteral("0"),
            QStringLiteral("--redis-url"), url});
    QVERIFY(process.waitForFinished(5000));
    QVERIFY2(timer.elapsed() < 3000, qPrintable(QString::number(timer.elapsed())));
    QCOMPARE(process.exitCode(), 1);
    const QStringList lines = QString::fromUtf8(process.readAllStandardError()).trimmed().split(u'\n');
    QVERIFY2(lines.size() == 1, qPrintable(lines.join(u'\n')));
    QVERIFY2(
        lines.first().contains(QStringLiteral("cannot reach Redis at ") + url), qPrintable(lines.first()));
}

// A server that wants a password, given none or a wrong one: the start ends with one line that
// says so and how to give it, instead of a service that bypasses the cache on every request.
void tst_Headless::explicitRedisWantsAPassword_data()
{
    QTest::addColumn<QString>("password");
    QTest::addColumn<QString>("mentions");
    QTest::newRow("none given") << QString() << QStringLiteral("requires a password (or an ACL user)");
    QTest::newRow("a wrong one") << QStringLiteral("wrong") << QStringLiteral("refused the user or password");
}

void tst_Headless::explicitRedisWantsAPassword()
{
    QFETCH(QString, password);
    QFETCH(QString, mentions);
    TestRedisServer locked;
    QVERIFY2(locked.start({QStringLiteral("--requirepass"), QStringLiteral("s3cret-pass")}),
        qPrintable(locked.errorString()));
    locked.setPassword(password);
    const QString url = locked.url();
    QProcess process;
    process.start(QStringLiteral(CACHEDASH_BINARY),
        {QStringLiteral("--headless"), QStringLiteral("--port"), QStringLiteral("0"),
            QStringLiteral("--redis-url"), url});
    QVERIFY(process.waitForFinished(5000));
    QCOMPARE(process.exitCode(), 1);
    const QStringList lines = QString::fromUtf8(process.readAllStandardError()).trimmed().split(u'\n');
    QVERIFY2(lines.size() == 1, qPrintable(lines.join(u'\n')));
    QVERIFY2(lines.first().contains(mentions), qPrintable(lines.first()));
    QVERIFY2(!lines.first().contains(QStringLiteral("s3cret-pass")), qPrintable(lines.first()));
    QVERIFY(process.readAllStandardOutput().isEmpty());
}

// redis:// to a port that only speaks TLS: not a service that waits on every command, but one line
// that suggests rediss://, within the start's timeout.
void tst_Headless::plainUrlToATlsPort()
{
    TestCertificates certs;
    QVERIFY2(certs.create(), qPrintable(certs.errorString()));
    TestRedisServer tls;
    const quint16 port = TestRedisServer::freeLoopbackPort();
    // The fixture's plain port stays (it checks the server is up there); the TLS one is the test's.
    QVERIFY2(tls.start(certs.redisServerArgs(port)), qPrintable(tls.errorString()));
    QProcess process;
    QElapsedTimer timer;
    timer.start();
    process.start(QStringLiteral(CACHEDASH_BINARY),
        {QStringLiteral("--headless"), QStringLiteral("--port"), QStringLiteral("0"),
            QStringLiteral("--redis-url"), QStringLiteral("redis://127.0.0.1:%1").arg(port)});
    QVERIFY(process.waitForFinished(5000));
    QVERIFY2(timer.elapsed() < 3000, qPrintable(QString::number(timer.elapsed())));
    QCOMPARE(process.exitCode(), 1);
    const QStringList lines = QString::fromUtf8(process.readAllStandardError()).trimmed().split(u'\n');
    QVERIFY2(lines.size() == 1, qPrintable(lines.join(u'\n')));
    QVERIFY2(lines.first().contains(QStringLiteral("use rediss://")), qPrintable(lines.first()));
}

void tst_Headless::invalidOptions_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("mentions");
    QTest::newRow("port not a number")
        << QStringList{QStringLiteral("--port"), QStringLiteral("http")} << "--port";
    QTest::newRow("port too big") << QStringList{QStringLiteral("--port"), QStringLiteral("70000")}
                                  << "--port";
    QTest::newRow("bad redis url") << QStringList{QStringLiteral("--redis-url"), QStringLiteral("http://x")}
                                   << "unsupported scheme";
    QTest::newRow("rate limit zero") << QStringList{QStringLiteral("--rate-limit"), QStringLiteral("0")}
                                     << "--rate-limit";
    QTest::newRow("negative delay") << QStringList{QStringLiteral("--report-delay-ms"), QStringLiteral("-5")}
                                    << "--report-delay-ms";
    QTest::newRow("bad policy") << QStringList{QStringLiteral("--rate-limit-on-error"),
        QStringLiteral("maybe")} << "allow or deny";
    QTest::newRow("bad bind") << QStringList{QStringLiteral("--bind"), QStringLiteral("example.com")}
                              << "--bind";
    QTest::newRow("unknown option") << QStringList{QStringLiteral("--frobnicate")} << "frobnicate";
}

void tst_Headless::invalidOptions()
{
    QFETCH(QStringList, args);
    QFETCH(QString, mentions);
    QProcess process;
    process.start(QStringLiteral(CACHEDASH_BINARY), QStringList{QStringLiteral("--headless")} + args);
    QVERIFY(process.waitForFinished(3000));
    QCOMPARE(process.exitCode(), 2);
    const QStringList lines = QString::fromUtf8(process.readAllStandardError()).trimmed().split(u'\n');
    QCOMPARE(lines.size(), 1);
    QVERIFY2(lines.first().startsWith(QStringLiteral("cachedash: ")), qPrintable(lines.first()));
    QVERIFY2(lines.first().contains(mentions), qPrintable(lines.first()));
}

void tst_Headless::helpAndVersion()
{
    QProcess help;
    help.start(QStringLiteral(CACHEDASH_BINARY), {QStringLiteral("--help")});
    QVERIFY(help.waitForFinished(3000));
    QCOMPARE(help.exitCode(), 0);
    const QByteArray text = help.readAllStandardOutput();
    for (const char *option : {"--headless", "--port", "--redis-url", "--report-delay-ms", "--cache-ttl",
             "--rate-limit", "--rate-window", "--trusted-proxy"})
        QVERIFY2(text.contains(option), option);
    QProcess version;
    version.start(QStringLiteral(CACHEDASH_BINARY), {QStringLiteral("--version")});
    QVERIFY(version.waitForFinished(3000));
    QVERIFY(version.readAllStandardOutput().startsWith("cachedash "));
}

QTEST_GUILESS_MAIN(tst_Headless)
#include "tst_headless.moc"
