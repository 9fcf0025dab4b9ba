// SPDX-License-Identifier: GPL-3.0-or-later
// The cachedash binary as a user or a script runs it: --headless, its one "Listening on" line,
// clean exits on signals, and clear errors; and the same over TLS (rediss://), with every way a
// TLS start can go wrong.
#include "testlib/rawconnection.h"
#include "testlib/testcertificates.h"
#include "testlib/testhttp.h"
#include "testlib/testredisserver.h"
#include "testlib/testwait.h"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonObject>
#include <QJsonValue>
#include <QProcess>
#include <QRegularExpression>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <csignal>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

using Cachedash::Test::HttpResult;
using Cachedash::Test::monotonicUs;
using Cachedash::Test::RawConnection;
using Cachedash::Test::TestCertificates;
using Cachedash::Test::TestHttp;
using Cachedash::Test::TestRedisServer;
using Cachedash::Test::waitUntil;

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
    void servesOverTls();
    void tlsStartErrors();
    void invalidOptions_data();
    void invalidOptions();
    void helpAndVersion();
    void reloadUnderLoad();
    void reloadRefused();

private:
    TestRedisServer m_redis;
    TestCertificates m_certs;
    // Serves the server certificate on m_tlsPort, asks clients for none; its plain port stays too.
    TestRedisServer m_tls;
    quint16 m_tlsPort = 0;
};

namespace {

// How long the binary waits at most for a Redis URL it was given (two connect timeouts of
// --redis-timeout-ms 1000, and at least 2 s); a start error must come within it (plus the
// process's own start). A refusal (a certificate, a password) ends the wait at once.
constexpr qint64 kStartWaitMs = 2000;

bool writeFile(const QString &path, const QByteArray &content)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly | QIODevice::Truncate) && file.write(content) == content.size();
}

// Starts the binary headless on a free port with `args`; returns its base URL once it listens,
// or nothing (with what it said on stderr in *why) if it did not.
QString startHeadless(QProcess &process, const QStringList &args, QString *why)
{
    process.start(QStringLiteral(CACHEDASH_BINARY),
        QStringList{QStringLiteral("--headless"), QStringLiteral("--port"), QStringLiteral("0")} + args);
    if (!process.waitForStarted()) {
        *why = process.errorString();
        return {};
    }
    waitUntil([&] { return process.canReadLine() || process.state() == QProcess::NotRunning; }, 5000);
    const QString line = QString::fromUtf8(process.readLine()).trimmed();
    if (!line.startsWith(QStringLiteral("Listening on http://"))) {
        *why = line + QString::fromUtf8(process.readAllStandardError());
        return {};
    }
    return line.section(u' ', 2);
}

// The samples of GET /metrics, one line each ("name{labels} value"), comments left out.
QByteArrayList metricSamples(TestHttp &http)
{
    QByteArrayList samples;
    for (const QByteArray &line : http.get(QStringLiteral("/metrics")).body.split('\n')) {
        if (!line.isEmpty() && !line.startsWith('#'))
            samples << line;
    }
    return samples;
}

QByteArray reportLimit(const QByteArray &window, const QByteArray &algorithm, const QByteArray &limit)
{
    return "cachedash_ratelimit_limit{route=\"reports\",window=\"" + window + "\",algorithm=\"" + algorithm
        + "\",mode=\"enforce\"} " + limit;
}

QByteArray reloads(const QByteArray &result, int count)
{
    return "cachedash_config_reloads_total{result=\"" + result + "\"} " + QByteArray::number(count);
}

// The limits and the reload counters among the samples: what a failed wait shows.
QByteArray reloadSamples(const QByteArrayList &samples)
{
    QByteArrayList shown;
    for (const QByteArray &s : samples) {
        if (s.startsWith("cachedash_ratelimit_limit") || s.startsWith("cachedash_config_reloads_total"))
            shown << s;
    }
    return shown.join('\n');
}

// Waits until every one of `samples` is among GET /metrics's, asking every 20 ms while the event
// loop keeps running (and with it any load); true if they all came within timeoutMs.
bool waitForMetrics(TestHttp &http, const QByteArrayList &samples, qint64 timeoutMs, QByteArrayList *last)
{
    qint64 nextUs = 0;
    bool found = false; // waitUntil() asks once more at the end: the answer must not change
    return waitUntil(
        [&] {
            if (found || monotonicUs() < nextUs)
                return found;
            nextUs = monotonicUs() + 20'000;
            *last = metricSamples(http);
            found = std::all_of(
                samples.begin(), samples.end(), [&](const QByteArray &s) { return last->contains(s); });
            return found;
        },
        timeoutMs);
}

// A keep-alive connection asking GET /reports/eu over and over, the next request as soon as the
// answer to the last one has come; every request and its answer are kept.
class ReportLoop
{
public:
    struct Exchange
    {
        qint64 sentUs = 0;
        qint64 doneUs = -1;
        HttpResult answer;
    };

    explicit ReportLoop(quint16 port)
        : m_connection(port)
    {
        QObject::connect(
            &m_connection.socket(), &QIODevice::readyRead, &m_connection.socket(), [this] { pump(); });
        send();
    }

    // No request after the one under way.
    void stop() { m_stopped = true; }
    bool drained()
    {
        pump();
        return m_connection.answers().size() >= qsizetype(m_exchanges.size()) || m_connection.isClosed();
    }
    // Answers to requests sent after `us`.
    int answeredAfter(qint64 us) const
    {
        return int(std::count_if(m_exchanges.begin(), m_exchanges.end(),
            [us](const Exchange &e) { return e.sentUs > us && e.doneUs >= 0; }));
    }
    const std::vector<Exchange> &exchanges() const { return m_exchanges; }
    RawConnection &connection() { return m_connection; }

private:
    void send()
    {
        m_exchanges.push_back({monotonicUs(), -1, {}});
        m_connection.write(TestHttp::getRequest(QStringLiteral("/reports/eu")));
    }
    void pump()
    {
        const QList<HttpResult> &answers = m_connection.answers();
        while (m_answered < answers.size() && m_answered < qsizetype(m_exchanges.size())) {
            Exchange &e = m_exchanges[size_t(m_answered)];
            e.doneUs = monotonicUs();
            e.answer = answers[m_answered];
            ++m_answered;
        }
        if (!m_stopped && m_answered == qsizetype(m_exchanges.size()) && !m_connection.isClosed())
            send();
    }

    RawConnection m_connection;
    std::vector<Exchange> m_exchanges;
    qsizetype m_answered = 0;
    bool m_stopped = false;
};

} // namespace

void tst_Headless::initTestCase()
{
    QVERIFY2(m_redis.start(), qPrintable(m_redis.errorString()));
    QVERIFY2(m_certs.create(), qPrintable(m_certs.errorString()));
    m_tlsPort = TestRedisServer::freeLoopbackPort();
    QVERIFY2(m_tls.start(m_certs.redisServerArgs(m_tlsPort)), qPrintable(m_tls.errorString()));
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

// The seed's contract over TLS: a miss then a hit, a refresh that invalidates, the limiter's 429
// with Retry-After, and /healthz naming the TLS transport.
void tst_Headless::servesOverTls()
{
    QCOMPARE(m_tls.command({"FLUSHALL"}), QByteArray("OK"));
    QProcess process;
    process.start(QStringLiteral(CACHEDASH_BINARY),
        {QStringLiteral("--headless"), QStringLiteral("--port"), QStringLiteral("0"),
            QStringLiteral("--report-delay-ms"), QStringLiteral("200"), QStringLiteral("--redis-url"),
            QStringLiteral("rediss://localhost:%1").arg(m_tlsPort), QStringLiteral("--redis-ca-cert"),
            m_certs.caCert()});
    QVERIFY(process.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(process.canReadLine() || process.state() == QProcess::NotRunning, 5000);
    const QString line = QString::fromUtf8(process.readLine()).trimmed();
    QVERIFY2(line.startsWith(QStringLiteral("Listening on http://")),
        qPrintable(line + QString::fromUtf8(process.readAllStandardError())));
    TestHttp http{QUrl(line.section(u' ', 2))};

    const HttpResult miss = http.get(QStringLiteral("/reports/emea"));
    QCOMPARE(miss.status, 200);
    QCOMPARE(miss.json().value(QLatin1String("cached")), QJsonValue(false));
    const HttpResult hit = http.get(QStringLiteral("/reports/emea"));
    QCOMPARE(hit.json().value(QLatin1String("cached")), QJsonValue(true));
    QCOMPARE(
        hit.json().value(QLatin1String("generated_at")), miss.json().value(QLatin1String("generated_at")));
    QCOMPARE(m_tls.command({"EXISTS", "report:emea"}), QByteArray("1")); // stored over TLS

    const HttpResult refresh = http.post(QStringLiteral("/reports/emea/refresh"));
    QCOMPARE(refresh.status, 200);
    QCOMPARE(refresh.json().value(QLatin1String("invalidated")), QJsonValue(true));
    QCOMPARE(m_tls.command({"EXISTS", "report:emea"}), QByteArray("0"));
    QCOMPARE(
        http.get(QStringLiteral("/reports/emea")).json().value(QLatin1String("cached")), QJsonValue(false));

    // Three reports so far; two more pass, the sixth in the window is refused.
    for (int i = 4; i <= 5; ++i)
        QCOMPARE(http.get(QStringLiteral("/reports/emea")).status, 200);
    const HttpResult limited = http.get(QStringLiteral("/reports/emea"));
    QCOMPARE(limited.status, 429);
    const int retryAfter = limited.header("retry-after").toInt();
    QVERIFY2(retryAfter >= 1 && retryAfter <= 10, limited.header("retry-after").constData());

    const HttpResult health = http.get(QStringLiteral("/healthz"));
    QCOMPARE(health.status, 200);
    QVERIFY2(health.json().value(QLatin1String("transport")).toString().startsWith(QLatin1String("TLS")),
        health.body.constData());

    ::kill(pid_t(process.processId()), SIGTERM);
    QVERIFY(process.waitForFinished(3000));
    QCOMPARE(process.exitCode(), 0);
}

// Every way a TLS start can go wrong, each against a server of its own and all at once (each
// waits out the binary's start wait): one line on stderr that says what to do, exit code 1, in
// time. And the right client certificate starts.
void tst_Headless::tlsStartErrors()
{
    struct Case
    {
        QString name;
        QString cert; // the server's certificate; none: m_tls
        QString key;
        QStringList serverArgs; // besides the TLS port's
        QString url; // TLS: the server's TLS port, PLAIN: its plain port
        QStringList args; // cachedash's TLS options
        QStringList mentions; // none: it starts
    };
    const QString auth = QStringLiteral("--tls-auth-clients");
    const QString ca = QStringLiteral("--redis-ca-cert");
    const QString tlsUrl = QStringLiteral("rediss://localhost:TLS");
    const QStringList trustCa{ca, m_certs.caCert()};
    const QStringList client{QStringLiteral("--redis-client-cert"), m_certs.clientCert(),
        QStringLiteral("--redis-client-key"), m_certs.clientKey()};
    const QStringList stranger{QStringLiteral("--redis-client-cert"), m_certs.strangerCert(),
        QStringLiteral("--redis-client-key"), m_certs.strangerKey()};
    const std::vector<Case> cases{
        {QStringLiteral("unknown CA"), {}, {}, {}, tlsUrl, {}, {QStringLiteral("unknown CA"), ca}},
        {QStringLiteral("wrong name"), m_certs.otherCert(), m_certs.otherKey(), {}, tlsUrl, trustCa,
            {QStringLiteral("wrong name: it is for elsewhere.example, not localhost")}},
        {QStringLiteral("expired"), m_certs.expiredCert(), m_certs.expiredKey(), {}, tlsUrl, trustCa,
            {QStringLiteral("expired on")}},
        {QStringLiteral("rediss:// to a plain port"), {}, {}, {}, QStringLiteral("rediss://localhost:PLAIN"),
            trustCa, {QStringLiteral("may speak plain TCP")}},
        {QStringLiteral("redis:// to a TLS port"), {}, {}, {}, QStringLiteral("redis://127.0.0.1:TLS"), {},
            {QStringLiteral("use rediss://")}},
        {QStringLiteral("mutual TLS, no client certificate"), {}, {}, {auth, QStringLiteral("yes")}, tlsUrl,
            trustCa, {QStringLiteral("requires a client certificate")}},
        {QStringLiteral("mutual TLS, a stranger's certificate"), {}, {}, {auth, QStringLiteral("yes")},
            tlsUrl, trustCa + stranger, {QStringLiteral("refused the client certificate")}},
        {QStringLiteral("mutual TLS, the right certificate"), {}, {}, {auth, QStringLiteral("yes")}, tlsUrl,
            trustCa + client, {}},
        {QStringLiteral("password required"), {}, {},
            {QStringLiteral("--requirepass"), QStringLiteral("s3cret-pass")}, tlsUrl, trustCa,
            {QStringLiteral("requires a password"), QStringLiteral("rediss://:PASSWORD@host:port")}},
    };

    // What the processes' finished() writes outlives them.
    std::vector<qint64> tookMs(cases.size(), -1);
    QElapsedTimer clock;
    clock.start();
    std::vector<std::unique_ptr<TestRedisServer>> servers;
    std::vector<std::unique_ptr<QProcess>> processes;
    for (const Case &c : cases) {
        TestRedisServer *server = &m_tls;
        quint16 tlsPort = m_tlsPort;
        if (!c.cert.isEmpty() || !c.serverArgs.isEmpty()) {
            servers.push_back(std::make_unique<TestRedisServer>());
            server = servers.back().get();
            tlsPort = TestRedisServer::freeLoopbackPort();
            QVERIFY2(server->start(m_certs.redisServerArgs(tlsPort, QStringLiteral("no"), c.cert, c.key)
                         + c.serverArgs),
                qPrintable(c.name + QStringLiteral(": ") + server->errorString()));
        }
        auto process = std::make_unique<QProcess>();
        const size_t i = processes.size();
        const qint64 startedMs = clock.elapsed();
        connect(process.get(), &QProcess::finished, this,
            [&tookMs, &clock, i, startedMs] { tookMs[i] = clock.elapsed() - startedMs; });
        process->start(QStringLiteral(CACHEDASH_BINARY),
            QStringList{QStringLiteral("--headless"), QStringLiteral("--port"), QStringLiteral("0"),
                QStringLiteral("--redis-timeout-ms"), QStringLiteral("1000"), QStringLiteral("--redis-url"),
                QString(c.url)
                    .replace(QStringLiteral("TLS"), QString::number(tlsPort))
                    .replace(QStringLiteral("PLAIN"), QString::number(server->port()))}
                + c.args);
        processes.push_back(std::move(process));
    }
    auto settled = [&](size_t i) {
        return cases[i].mentions.isEmpty() ? processes[i]->canReadLine() || tookMs[i] >= 0 : tookMs[i] >= 0;
    };
    QStringList unsettled;
    waitUntil(
        [&] {
            unsettled.clear();
            for (size_t i = 0; i < cases.size(); ++i) {
                if (!settled(i))
                    unsettled << cases[i].name;
            }
            return unsettled.isEmpty();
        },
        kStartWaitMs + 8000);
    QVERIFY2(unsettled.isEmpty(), qPrintable(QStringLiteral("still starting: ") + unsettled.join(u',')));
    QStringList took;
    for (size_t i = 0; i < cases.size(); ++i)
        took << QStringLiteral("%1 %2 ms").arg(cases[i].name).arg(tookMs[i]);
    qInfo().noquote() << "ended after:" << took.join(QStringLiteral(", "));

    for (size_t i = 0; i < cases.size(); ++i) {
        const Case &c = cases[i];
        QProcess &process = *processes[i];
        const QString why = c.name + QStringLiteral(": ");
        if (c.mentions.isEmpty()) {
            const QString line = QString::fromUtf8(process.readLine()).trimmed();
            QVERIFY2(line.startsWith(QStringLiteral("Listening on http://")),
                qPrintable(why + line + QString::fromUtf8(process.readAllStandardError())));
            TestHttp http{QUrl(line.section(u' ', 2))};
            const HttpResult health = http.get(QStringLiteral("/healthz"));
            QCOMPARE(health.status, 200);
            QVERIFY2(health.body.contains("client certificate client.pem"), health.body.constData());
            process.terminate();
            QVERIFY(process.waitForFinished(3000));
            QCOMPARE(process.exitCode(), 0);
            continue;
        }
        QCOMPARE(process.exitStatus(), QProcess::NormalExit);
        QVERIFY2(process.exitCode() == 1, qPrintable(why + QString::number(process.exitCode())));
        QVERIFY2(tookMs[i] < kStartWaitMs + 2000,
            qPrintable(why + QString::number(tookMs[i]) + QStringLiteral(" ms")));
        const QStringList lines = QString::fromUtf8(process.readAllStandardError()).trimmed().split(u'\n');
        QVERIFY2(lines.size() == 1, qPrintable(why + lines.join(u'\n')));
        QVERIFY2(lines.first().startsWith(QStringLiteral("cachedash: cannot reach Redis at ")),
            qPrintable(why + lines.first()));
        QVERIFY(process.readAllStandardOutput().isEmpty());
        for (const QString &mention : c.mentions)
            QVERIFY2(lines.first().contains(mention), qPrintable(why + lines.first()));
    }
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
    // The "s" of rediss:// forgotten.
    QTest::newRow("CA for a plain URL") << QStringList{QStringLiteral("--redis-url"), m_redis.url(),
        QStringLiteral("--redis-ca-cert"), m_certs.caCert()}
                                        << "--redis-ca-cert applies to TLS only";
    QTest::newRow("missing CA file") << QStringList{QStringLiteral("--port"), QStringLiteral("0"),
        QStringLiteral("--redis-url"), QStringLiteral("rediss://localhost:%1").arg(m_tlsPort),
        QStringLiteral("--redis-ca-cert"), QStringLiteral("/nonexistent/ca.pem")}
                                     << "--redis-ca-cert: /nonexistent/ca.pem is not a readable file";
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

// SIGHUP while keep-alive clients ask for reports without pause: the new limits and algorithm
// from the re-read --config file take over at one moment. No connection drops, no request is lost,
// every answer is decided whole by the old policy or whole by the new one, and once a client has
// seen the new one, every request sent after it gets the new one too.
void tst_Headless::reloadUnderLoad()
{
    QElapsedTimer wall;
    wall.start();
    QCOMPARE(m_redis.command({"FLUSHALL"}), QByteArray("OK"));
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString config = dir.filePath(QStringLiteral("cachedash.ini"));
    QVERIFY(writeFile(config, "rate-limit = 1000000/10s\n"));
    QProcess process;
    QString why;
    const QString base = startHeadless(process,
        {QStringLiteral("--redis-url"), m_redis.url(), QStringLiteral("--config"), config,
            QStringLiteral("--report-delay-ms"), QStringLiteral("20"), QStringLiteral("--access-log"),
            QStringLiteral("off")},
        &why);
    QVERIFY2(!base.isEmpty(), qPrintable(why));
    TestHttp http{QUrl(base)};
    const QByteArray oldLimit = reportLimit("10", "sliding-log", "1000000");
    const QByteArray newLimit = reportLimit("10", "gcra", "3");
    QByteArrayList samples = metricSamples(http);
    QVERIFY2(samples.contains(oldLimit) && samples.contains(reloads("applied", 0)),
        reloadSamples(samples).constData());

    const QByteArray oldPolicy = "1000000;w=10";
    const QByteArray newPolicy = "3;w=10";
    const quint16 port = quint16(QUrl(base).port());
    std::vector<std::unique_ptr<ReportLoop>> loops;
    for (int i = 0; i < 4; ++i)
        loops.push_back(std::make_unique<ReportLoop>(port));
    const auto everyLoop = [&](const std::function<bool(ReportLoop &)> &holds) {
        return std::all_of(loops.begin(), loops.end(), [&](const auto &loop) { return holds(*loop); });
    };
    QVERIFY2(
        waitUntil([&] { return everyLoop([](ReportLoop &l) { return l.answeredAfter(0) >= 50; }); }, 5000),
        "the load does not flow");

    QVERIFY(writeFile(config, "rate-limit = 3/10s\nrate-algorithm = gcra\n"));
    const qint64 hupUs = monotonicUs();
    QCOMPARE(::kill(pid_t(process.processId()), SIGHUP), 0);
    QVERIFY2(waitForMetrics(http, {newLimit, reloads("applied", 1), reloads("failed", 0)}, 5000, &samples),
        reloadSamples(samples).constData());
    QVERIFY2(!samples.contains(oldLimit), reloadSamples(samples).constData());
    const qint64 seenUs = monotonicUs();
    // The load goes on under the new policy for a while, then stops and drains.
    QVERIFY(waitUntil(
        [&] { return everyLoop([&](ReportLoop &l) { return l.answeredAfter(seenUs) >= 50; }); }, 5000));
    for (auto &loop : loops)
        loop->stop();
    QVERIFY(waitUntil([&] { return everyLoop([](ReportLoop &l) { return l.drained(); }); }, 5000));

    int total = 0;
    int oldAnswers = 0;
    int oldAfterHup = 0; // old-policy answers that came after SIGHUP was sent: the overlap
    int newAllowed = 0;
    int newLimited = 0;
    qint64 firstNewUs = std::numeric_limits<qint64>::max(); // when the first new-policy answer came
    qint64 lastOldSentUs = 0;
    for (const auto &loop : loops) {
        QVERIFY2(loop->connection().isConnected(), "a connection was closed");
        for (const ReportLoop::Exchange &e : loop->exchanges()) {
            QVERIFY2(e.doneUs >= 0, "a request got no answer");
            const QByteArray policy = e.answer.header("ratelimit-policy");
            const int status = e.answer.status;
            ++total;
            if (policy == oldPolicy) {
                QVERIFY2(status == 200, qPrintable(QString::number(status)));
                QCOMPARE(e.answer.header("ratelimit-limit"), QByteArray("1000000"));
                ++oldAnswers;
                oldAfterHup += e.doneUs > hupUs ? 1 : 0;
                lastOldSentUs = std::max(lastOldSentUs, e.sentUs);
            } else {
                QVERIFY2(policy == newPolicy, policy.constData());
                QVERIFY2(status == 200 || status == 429, qPrintable(QString::number(status)));
                QCOMPARE(e.answer.header("ratelimit-limit"), QByteArray("3"));
                ++(status == 200 ? newAllowed : newLimited);
                firstNewUs = std::min(firstNewUs, e.doneUs);
                // Whatever was answered before SIGHUP was sent had the old policy.
                QVERIFY(e.doneUs > hupUs);
            }
            QCOMPARE(e.answer.version, QByteArray("HTTP/1.1"));
        }
        // On one connection: old answers, then new ones, never back.
        const auto &ex = loop->exchanges();
        const auto firstNew = std::find_if(ex.begin(), ex.end(),
            [&](const ReportLoop::Exchange &e) { return e.answer.header("ratelimit-policy") == newPolicy; });
        QVERIFY(std::all_of(firstNew, ex.end(),
            [&](const ReportLoop::Exchange &e) { return e.answer.header("ratelimit-policy") == newPolicy; }));
    }
    // Across connections: a request sent after any client saw the new policy is decided by it.
    QVERIFY2(
        lastOldSentUs < firstNewUs, "an old-policy answer to a request sent after the new policy showed");
    // The gcra 3/10s applies to the load's one client (127.0.0.1): 3 at once, then one per 3.33 s.
    const qint64 newForMs = (monotonicUs() - hupUs) / 1000;
    QVERIFY2(newAllowed >= 3 && newAllowed <= 3 + int(newForMs / 3333) + 1,
        qPrintable(QStringLiteral("%1 admitted in %2 ms").arg(newAllowed).arg(newForMs)));
    QVERIFY(newLimited >= 50 * int(loops.size()) - newAllowed);
    qInfo("%d answers: %d under the old policy (%d of them after SIGHUP), %d admitted and %d limited under "
          "the new",
        total, oldAnswers, oldAfterHup, newAllowed, newLimited);

    // Forgotten, the client starts afresh under gcra 3/10s: a burst of 5 gets 3 through.
    QCOMPARE(http.send("DELETE", QStringLiteral("/ratelimit/127.0.0.1")).status, 200);
    RawConnection burst(port);
    QByteArray requests;
    for (int i = 0; i < 5; ++i)
        requests += TestHttp::getRequest(QStringLiteral("/reports/eu"));
    burst.write(requests);
    const QList<HttpResult> answers = burst.waitForAnswers(5, 5000);
    QCOMPARE(answers.size(), 5);
    QList<int> statuses;
    for (const HttpResult &a : answers) {
        statuses << a.status;
        QCOMPARE(a.header("ratelimit-policy"), newPolicy);
    }
    QCOMPARE(statuses, (QList<int>{200, 200, 200, 429, 429}));
    const int retryAfter = answers.last().header("retry-after").toInt();
    QVERIFY2(retryAfter >= 1 && retryAfter <= 4, answers.last().header("retry-after").constData());

    ::kill(pid_t(process.processId()), SIGTERM);
    QVERIFY(process.waitForFinished(3000));
    QCOMPARE(process.exitCode(), 0);
    const QString log = QString::fromUtf8(process.readAllStandardError());
    QVERIFY2(log.contains(QStringLiteral("reloaded ") + config), qPrintable(log));
    QVERIFY2(!log.contains(QStringLiteral("reload refused")), qPrintable(log));
    qInfo("took %lld ms", wall.elapsed());
}

// A reload that cannot be applied changes nothing: the old limits keep answering, the log says why,
// and cachedash_config_reloads_total{result="failed"} counts it. A good file later applies.
void tst_Headless::reloadRefused()
{
    QElapsedTimer wall;
    wall.start();
    QCOMPARE(m_redis.command({"FLUSHALL"}), QByteArray("OK"));
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString config = dir.filePath(QStringLiteral("cachedash.ini"));
    QVERIFY(writeFile(config, "rate-limit = 50/10s, 100/1h\n"));
    QProcess process;
    QString why;
    const QString base = startHeadless(process,
        {QStringLiteral("--redis-url"), m_redis.url(), QStringLiteral("--config"), config,
            QStringLiteral("--report-delay-ms"), QStringLiteral("20")},
        &why);
    QVERIFY2(!base.isEmpty(), qPrintable(why));
    TestHttp http{QUrl(base)};
    const QByteArray oldPolicy = "50;w=10, 100;w=3600";
    QCOMPARE(http.get(QStringLiteral("/reports/eu")).header("ratelimit-policy"), oldPolicy);
    QString log;
    const auto logSays = [&](const QString &text, int times) {
        return waitUntil(
            [&] {
                log += QString::fromUtf8(process.readAllStandardError());
                return log.count(text) >= times;
            },
            3000);
    };
    const QByteArrayList oldLimits{
        reportLimit("10", "sliding-log", "50"), reportLimit("3600", "sliding-log", "100")};
    QByteArrayList samples;
    const auto seen = [&]() -> QString {
        log += QString::fromUtf8(process.readAllStandardError());
        return QString::fromUtf8(reloadSamples(samples)) + QStringLiteral("\nlog:\n") + log;
    };

    // A value that is not a limit; then a file that is gone.
    const struct
    {
        QByteArray content; // null: the file is removed
        QString mentions;
    } refused[] = {
        {"rate-limit = banana\n",
            QStringLiteral("rate-limit in %1: \"banana\" is not a rate limit").arg(config)},
        {{}, QStringLiteral("--config: %1 is not a readable file").arg(config)},
    };
    int failed = 0;
    for (const auto &r : refused) {
        if (r.content.isNull())
            QVERIFY(QFile::remove(config));
        else
            QVERIFY(writeFile(config, r.content));
        QCOMPARE(::kill(pid_t(process.processId()), SIGHUP), 0);
        ++failed;
        QVERIFY2(
            waitForMetrics(http, QByteArrayList{reloads("failed", failed), reloads("applied", 0)} + oldLimits,
                3000, &samples),
            qPrintable(seen()));
        QVERIFY2(logSays(QStringLiteral("reload refused, the settings stay as they were: ") + r.mentions, 1),
            qPrintable(log));
        const HttpResult answer = http.get(QStringLiteral("/reports/eu"));
        QCOMPARE(answer.status, 200);
        QCOMPARE(answer.header("ratelimit-policy"), oldPolicy);
    }
    QCOMPARE(log.count(QStringLiteral("reload refused")), 2);

    // Put right, the file applies at the next SIGHUP.
    QVERIFY(writeFile(config, "rate-limit = 2/10s\nrate-limit-mode = shadow\n"));
    QCOMPARE(::kill(pid_t(process.processId()), SIGHUP), 0);
    const QByteArray shadowLimit = "cachedash_ratelimit_limit{route=\"reports\",window=\"10\",algorithm="
                                   "\"sliding-log\",mode=\"shadow\"} 2";
    QVERIFY2(waitForMetrics(http, {reloads("failed", 2), reloads("applied", 1), shadowLimit}, 3000, &samples),
        qPrintable(seen()));
    // The sliding log kept the requests above: forgotten, the client starts afresh.
    QCOMPARE(http.send("DELETE", QStringLiteral("/ratelimit/127.0.0.1")).status, 200);
    for (int i = 0; i < 3; ++i) { // shadow mode: the third is over the limit, and still served
        const HttpResult answer = http.get(QStringLiteral("/reports/eu"));
        QCOMPARE(answer.status, 200);
        QCOMPARE(answer.header("ratelimit-policy"), QByteArray("2;w=10"));
    }
    QVERIFY2(metricSamples(http).contains(
                 "cachedash_ratelimit_decisions_total{route=\"reports\",decision=\"shadowed\"} 1"),
        "no shadowed decision");

    ::kill(pid_t(process.processId()), SIGTERM);
    QVERIFY(process.waitForFinished(3000));
    QCOMPARE(process.exitCode(), 0);
    log += QString::fromUtf8(process.readAllStandardError());
    QVERIFY2(log.contains(QStringLiteral("reloaded ") + config), qPrintable(log));
    qInfo("took %lld ms", wall.elapsed());
}

QTEST_GUILESS_MAIN(tst_Headless)
#include "tst_headless.moc"
