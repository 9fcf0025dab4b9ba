// SPDX-License-Identifier: GPL-3.0-or-later
// Faults the service must survive, each against a real redis-server that this test starts itself:
//
// - Redis killed (SIGKILL) and restarted on the same port under a load of hits, misses and refreshes;
// - Redis paused (CLIENT PAUSE) under load, with the limiter failing open and failing closed;
// - clients that go away mid-miss, mid-write, or halfway through sending a request.
//
// Under load, every request sent must get exactly one answer, within the Redis command timeout plus
// the report delay (plus a slack for scheduling), never a 500 and no other 5xx than the documented
// ones, and no report that a refresh acknowledged as gone may come back from the cache afterwards.
//
// The service and the load's clients share this thread's event loop, as in tst_apiserver. Redis is
// started, killed and restarted on a thread of its own (RedisHost), because those steps block
// (QProcess::waitFor..., polling PING), and a blocked event loop would show as request latency.
#include "api/reportsapi.h"
#include "http/httpserver.h"
#include "cache/reportsource.h"
#include "service/service.h"
#include "testlib/testhttp.h"
#include "testlib/testredisserver.h"
#include "testlib/testserviceoptions.h"
#include "http/wire.h"

#include <QDateTime>
#include <QDeadlineTimer>
#include <QEventLoop>
#include <QHostAddress>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLoggingCategory>
#include <QMap>
#include <QRandomGenerator>
#include <QTcpSocket>
#include <QTest>
#include <QThread>
#include <QTimer>

#include <qcoro/qcorotask.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

using namespace std::chrono;
using namespace std::chrono_literals;
using namespace Cachedash;
using Cachedash::Test::HttpResult;
using Cachedash::Test::TestHttp;
using Cachedash::Test::TestRedisServer;

namespace {

// The service under load: a short computation, so that misses are frequent, and a short Redis
// timeout, so that a paused Redis costs little time.
constexpr milliseconds kReportDelay{150};
constexpr milliseconds kRedisTimeout{500};
// No request should wait longer than one Redis timeout plus one computation (a timed-out read or
// lease, then the computation; or the computation, then a timed-out write). The slack on top covers
// scheduling, not work:
// - RedisClient checks deadlines on a tick of timeout/10 (50 ms here): a timeout ends up to 50 ms late;
// - the service, its 13 client loops and redis-server take turns on 2 cores with whatever else runs
//   (ctest -j2, other builds): every hop of a request (client, service, Redis, service, client) can
//   wait for a CPU. With 8 compile jobs on the 2 cores, legit requests were seen ~260 ms late.
// The bound stays below two timeouts plus a computation (2 x 500 + 150 = 1150 ms), which no amount
// of scheduling makes shorter: a request that waited for two Redis timeouts in a row, for an orphaned
// fill lease (2 x 150 + 1000 ms, then the computation), or for nothing at all, fails.
constexpr milliseconds kSlack{400};
constexpr qint64 kBoundMs = (kRedisTimeout + kReportDelay + kSlack).count();
// A refresh's acknowledgement vs generated_at: see checkInvalidation().
constexpr qint64 kClockMarginMs = 2;

constexpr milliseconds kLoadDuration{10'000};
constexpr milliseconds kKillAfter{3'000};
constexpr milliseconds kDownFor{1'000};
constexpr milliseconds kRecoveryLimit{2'000};
constexpr milliseconds kPause{3'000};

qint64 nowUs()
{
    return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

// Runs the event loop until done() or the timeout, and returns done(). Not QTest::qWait or QTRY:
// those sleep 10 ms between rounds of events, a stall that the service, living in this thread,
// would add to every request's latency.
template<typename Predicate>
bool spinUntil(Predicate done, qint64 timeoutMs)
{
    if (done())
        return true;
    QEventLoop loop;
    QTimer poll;
    poll.setTimerType(Qt::PreciseTimer);
    poll.setInterval(5);
    const QDeadlineTimer deadline(timeoutMs, Qt::PreciseTimer);
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (done() || deadline.hasExpired())
            loop.quit();
    });
    poll.start();
    loop.exec();
    return done();
}

void spinUntilUs(qint64 momentUs)
{
    spinUntil([momentUs] { return nowUs() >= momentUs; }, (momentUs - nowUs()) / 1000 + 1000);
}

// A TestRedisServer on a thread of its own. Everything that touches its QProcess (start, kill,
// restart, stop) runs there: QProcess is not thread-safe, and PR_SET_PDEATHSIG (which TestRedisServer
// sets) kills the child when the *thread* that started it ends. command(), url() and port() only
// read what start() set, and are used from the test's thread.
class RedisHost
{
public:
    RedisHost()
    {
        m_context.moveToThread(&m_thread);
        m_thread.start();
    }
    ~RedisHost()
    {
        run([this] { m_server.reset(); });
        m_thread.quit();
        m_thread.wait();
    }
    RedisHost(const RedisHost &) = delete;
    RedisHost &operator=(const RedisHost &) = delete;

    // Runs `f` on the Redis thread and waits for it.
    template<typename F>
    void run(F f)
    {
        QMetaObject::invokeMethod(&m_context, std::move(f), Qt::BlockingQueuedConnection);
    }
    // Runs `f` on the Redis thread, without waiting.
    template<typename F>
    void post(F f)
    {
        QMetaObject::invokeMethod(&m_context, std::move(f), Qt::QueuedConnection);
    }
    TestRedisServer &server() { return *m_server; }

private:
    std::unique_ptr<TestRedisServer> m_server = std::make_unique<TestRedisServer>();
    QThread m_thread;
    QObject m_context;
};

// ---- the load ---------------------------------------------------------------------------------

enum class Kind { Report, Refresh, Health };

QString labelOf(Kind kind)
{
    switch (kind) {
    case Kind::Report: return QStringLiteral("GET /reports/{region}");
    case Kind::Refresh: return QStringLiteral("POST /reports/{region}/refresh");
    case Kind::Health: return QStringLiteral("GET /healthz");
    }
    return {};
}

// One request and its answer, as the client saw them.
struct Exchange
{
    Kind kind = Kind::Report;
    QString region;
    qint64 sentUs = 0; // monotonic, just before the request was written
    qint64 sentWallMs = 0; // the wall clock at that moment (generated_at is on the wall clock)
    qint64 doneUs = -1; // monotonic, when the whole answer had been read; -1: no answer
    int status = 0;
    QByteArray xCache;
    QByteArray retryAfter;
    QByteArray body;
    bool connectionClosed = false; // the connection closed while this waited for its answer

    bool answered() const { return doneUs >= 0; }
    double latencyMs() const { return double(doneUs - sentUs) / 1000.0; }
    QJsonObject json() const { return QJsonDocument::fromJson(body).object(); }
    bool fromCache() const { return json().value(QLatin1String("cached")).toBool(false); }
    qint64 generatedAtMs() const
    {
        const QString at = json().value(QLatin1String("generated_at")).toString();
        const QDateTime parsed = QDateTime::fromString(at, Qt::ISODateWithMs);
        return parsed.isValid() ? parsed.toMSecsSinceEpoch() : -1;
    }
};

struct Answer
{
    int status = 0;
    QHash<QByteArray, QByteArray> headers; // names in lower case
    QByteArray body;
};

// Parses the complete answer at the start of `data` into *answer and returns its length, or returns
// 0 while the answer is incomplete.
qsizetype takeAnswer(const QByteArray &data, Answer *answer)
{
    const qsizetype headEnd = data.indexOf("\r\n\r\n");
    if (headEnd < 0)
        return 0;
    Answer a;
    const QList<QByteArray> lines = data.left(headEnd).split('\n');
    a.status = lines.value(0).trimmed().split(' ').value(1).toInt();
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray line = lines[i].trimmed();
        const qsizetype colon = line.indexOf(':');
        if (colon > 0)
            a.headers.insert(line.left(colon).trimmed().toLower(), line.mid(colon + 1).trimmed());
    }
    const qsizetype length = a.headers.value(QByteArrayLiteral("content-length")).toLongLong();
    if (data.size() < headEnd + 4 + length)
        return 0;
    a.body = data.mid(headEnd + 4, length);
    *answer = std::move(a);
    return headEnd + 4 + length;
}

QByteArray requestFor(Kind kind, const QString &region, const QByteArray &client)
{
    QByteArray line;
    switch (kind) {
    case Kind::Report: line = "GET /reports/" + region.toUtf8() + " HTTP/1.1\r\n"; break;
    case Kind::Refresh:
        line = "POST /reports/" + region.toUtf8() + "/refresh HTTP/1.1\r\nContent-Length: 0\r\n";
        break;
    case Kind::Health: line = QByteArrayLiteral("GET /healthz HTTP/1.1\r\n"); break;
    }
    return line + "Host: 127.0.0.1\r\nX-Forwarded-For: " + client + "\r\n\r\n";
}

// Client loops over keep-alive connections, each with one request outstanding at a time: a report
// (GET) or, now and then, a refresh (POST) of a random region, then a short random pause; plus one
// loop that asks /healthz every few ms. Every request is recorded with its answer.
class Load
{
public:
    struct Settings
    {
        quint16 port = 0;
        int clients = 12;
        QStringList regions;
        int refreshPerMille = 15;
        int thinkMinMs = 2;
        int thinkMaxMs = 20;
        int healthEveryMs = 20;
    };

    explicit Load(Settings settings)
        : m_settings(std::move(settings))
    { }
    ~Load()
    {
        m_stopped = true;
        for (const auto &loop : m_loops) {
            if (loop->socket)
                loop->socket->disconnect(); // its destructor aborts: no callback into a dying Load
        }
    }
    Load(const Load &) = delete;
    Load &operator=(const Load &) = delete;

    void start()
    {
        m_startUs = nowUs();
        for (int i = 0; i <= m_settings.clients; ++i) {
            auto loop = std::make_unique<Loop>();
            loop->kind = i < m_settings.clients ? Kind::Report : Kind::Health;
            loop->address = "198.18.7." + QByteArray::number(i + 1);
            open(loop.get());
            m_loops.push_back(std::move(loop));
        }
    }
    // No new requests from now on; those under way still get their answers.
    void stop() { m_stopped = true; }
    bool drained() const
    {
        return std::none_of(m_loops.cbegin(), m_loops.cend(), [](const auto &l) { return l->pending >= 0; });
    }

    qint64 startUs() const { return m_startUs; }
    const std::vector<Exchange> &exchanges() const { return m_exchanges; }
    // Answers that came when no request was waiting for one.
    int unexpectedAnswers() const { return m_unexpected; }
    int connectionsClosed() const { return m_closed; }

private:
    struct Loop
    {
        Kind kind = Kind::Report;
        QByteArray address;
        std::unique_ptr<QTcpSocket> socket;
        QByteArray input;
        qsizetype pending = -1; // the exchange waiting for its answer
    };

    void open(Loop *loop)
    {
        if (loop->socket) {
            QTcpSocket *old = loop->socket.release();
            old->disconnect();
            old->deleteLater(); // we may be inside one of its signals
        }
        loop->input.clear();
        loop->socket = std::make_unique<QTcpSocket>();
        QTcpSocket *socket = loop->socket.get();
        QObject::connect(socket, &QTcpSocket::connected, socket, [this, loop] { sendNext(loop); });
        QObject::connect(socket, &QTcpSocket::readyRead, socket, [this, loop] { readAnswers(loop); });
        QObject::connect(
            socket, &QTcpSocket::stateChanged, socket, [this, loop](QAbstractSocket::SocketState s) {
                if (s == QAbstractSocket::UnconnectedState)
                    closed(loop);
            });
        socket->connectToHost(QHostAddress(QHostAddress::LocalHost), m_settings.port);
    }

    void sendNext(Loop *loop)
    {
        if (m_stopped || loop->pending >= 0 || loop->socket->state() != QAbstractSocket::ConnectedState)
            return;
        Exchange e;
        e.kind = loop->kind;
        if (e.kind == Kind::Report) {
            if (m_random.bounded(1000) < m_settings.refreshPerMille)
                e.kind = Kind::Refresh;
            e.region = m_settings.regions.at(m_random.bounded(int(m_settings.regions.size())));
        }
        const QByteArray request = requestFor(e.kind, e.region, loop->address);
        e.sentWallMs = QDateTime::currentMSecsSinceEpoch();
        e.sentUs = nowUs();
        loop->pending = qsizetype(m_exchanges.size());
        m_exchanges.push_back(std::move(e));
        loop->socket->write(request);
    }

    void readAnswers(Loop *loop)
    {
        loop->input += loop->socket->readAll();
        Answer answer;
        while (const qsizetype used = takeAnswer(loop->input, &answer)) {
            loop->input.remove(0, used);
            if (loop->pending < 0) {
                ++m_unexpected;
                continue;
            }
            Exchange &e = m_exchanges[size_t(std::exchange(loop->pending, -1))];
            e.doneUs = nowUs();
            e.status = answer.status;
            e.xCache = answer.headers.value(QByteArrayLiteral("x-cache"));
            e.retryAfter = answer.headers.value(QByteArrayLiteral("retry-after"));
            e.body = std::move(answer.body);
            const int pause = loop->kind == Kind::Health
                ? m_settings.healthEveryMs
                : m_random.bounded(m_settings.thinkMinMs, m_settings.thinkMaxMs + 1);
            QTimer::singleShot(pause, Qt::PreciseTimer, loop->socket.get(), [this, loop] { sendNext(loop); });
        }
    }

    void closed(Loop *loop)
    {
        ++m_closed;
        if (loop->pending >= 0)
            m_exchanges[size_t(std::exchange(loop->pending, -1))].connectionClosed = true;
        if (!m_stopped)
            QTimer::singleShot(20, loop->socket.get(), [this, loop] { open(loop); });
    }

    Settings m_settings;
    QRandomGenerator m_random{20261128u};
    std::vector<std::unique_ptr<Loop>> m_loops;
    std::vector<Exchange> m_exchanges;
    qint64 m_startUs = 0;
    bool m_stopped = false;
    int m_unexpected = 0;
    int m_closed = 0;
};

// Whether an answer is one the API documents for its request. `limiterDenies`: the limiter fails
// closed, so a report may be refused with 503 while Redis cannot decide.
QString problemWith(const Exchange &e, bool limiterDenies)
{
    const QJsonObject json = e.json();
    switch (e.kind) {
    case Kind::Report:
        if (e.status == 200) {
            if (json.value(QLatin1String("region")).toString() != e.region)
                return QStringLiteral("the report of another region");
            const bool cached = json.value(QLatin1String("cached")).toBool(false);
            if (e.xCache == "HIT" || e.xCache == "STALE") {
                if (!cached)
                    return QStringLiteral("X-Cache says cached, the body does not");
            } else if (e.xCache == "MISS" || e.xCache == "BYPASS") {
                if (cached)
                    return QStringLiteral("the body says cached, X-Cache does not");
            } else {
                return QStringLiteral("no known X-Cache");
            }
            if (e.generatedAtMs() < 0)
                return QStringLiteral("no valid generated_at");
            return {};
        }
        // Fail-closed: the documented refusal while the limiter cannot decide.
        if (e.status == 503 && limiterDenies && e.retryAfter.toInt() >= 1
            && json.value(QLatin1String("detail"))
                   .toString()
                   .contains(QStringLiteral("rate limiter is unavailable")))
            return {};
        return QStringLiteral("status %1 for a report").arg(e.status);
    case Kind::Refresh:
        if (e.status == 200 && json.value(QLatin1String("invalidated")).isBool())
            return {};
        // Documented: Redis is unavailable, nothing was invalidated.
        if (e.status == 503 && json.value(QLatin1String("invalidated")) == QJsonValue(false)
            && !e.retryAfter.isEmpty())
            return {};
        return QStringLiteral("status %1 for a refresh").arg(e.status);
    case Kind::Health:
        if (e.status == 200 || e.status == 503) // 503: documented, Redis does not answer
            return {};
        return QStringLiteral("status %1 for /healthz").arg(e.status);
    }
    return {};
}

// What a load's answers came to.
struct Tally
{
    int sent = 0;
    int answered = 0;
    int lost = 0;
    int late = 0; // answered after kBoundMs
    int status500 = 0;
    int wrong = 0; // answers problemWith() refuses (500s included)
    double maxLatencyMs[3] = {0, 0, 0}; // by Kind
    QMap<QString, int> outcomes; // "GET /reports/{region} 200 HIT" -> count
    QStringList examples; // the first few lost, late or wrong answers

    double maxLatency() const { return *std::max_element(std::begin(maxLatencyMs), std::end(maxLatencyMs)); }
    QString outcomesText() const
    {
        QStringList parts;
        for (auto it = outcomes.cbegin(); it != outcomes.cend(); ++it)
            parts << it.key() + QStringLiteral(": ") + QString::number(it.value());
        return parts.join(QStringLiteral(", "));
    }
};

Tally tallyOf(const Load &load, bool limiterDenies)
{
    Tally t;
    auto note = [&t, &load](const Exchange &e, const QString &what) {
        if (t.examples.size() < 10)
            t.examples << QStringLiteral("%1 %2 sent at +%3 ms: %4")
                              .arg(labelOf(e.kind), e.region)
                              .arg((e.sentUs - load.startUs()) / 1000)
                              .arg(what);
    };
    for (const Exchange &e : load.exchanges()) {
        ++t.sent;
        if (!e.answered()) {
            ++t.lost;
            note(e,
                e.connectionClosed ? QStringLiteral("connection closed, no answer")
                                   : QStringLiteral("no answer"));
            continue;
        }
        ++t.answered;
        QString key = labelOf(e.kind) + u' ' + QString::number(e.status);
        if (!e.xCache.isEmpty())
            key += u' ' + QString::fromLatin1(e.xCache);
        ++t.outcomes[key];
        double &max = t.maxLatencyMs[int(e.kind)];
        max = std::max(max, e.latencyMs());
        if (e.latencyMs() > double(kBoundMs)) {
            ++t.late;
            note(e, QStringLiteral("answered after %1 ms").arg(e.latencyMs(), 0, 'f', 1));
        }
        if (e.status == 500)
            ++t.status500;
        const QString why = problemWith(e, limiterDenies);
        if (!why.isEmpty()) {
            ++t.wrong;
            note(e, why + QStringLiteral(": ") + QString::fromUtf8(e.body.left(200)));
        }
    }
    return t;
}

// The checks every load makes: each request got exactly one answer, the right one, in time, and
// no 500. Prints the first examples of what went wrong. Callers return if the test failed.
void checkEveryAnswer(const Tally &tally, const Load &load)
{
    for (const QString &example : tally.examples)
        qWarning().noquote() << "  " << example;
    QCOMPARE(tally.lost, 0);
    QCOMPARE(load.unexpectedAnswers(), 0);
    QCOMPARE(tally.status500, 0);
    QVERIFY2(tally.wrong == 0, qPrintable(tally.examples.join(u'\n')));
    QVERIFY2(tally.late == 0, qPrintable(tally.examples.join(u'\n')));
}

// The invalidation invariant: no report that a refresh acknowledged comes back from the cache.
//
// A refresh deletes the report and its fill lease in Redis at some moment tDel, after the refresh was
// sent (sentR) and before its answer arrived (ackR). From the cache's design, a report stored after
// tDel was computed by a fill that took its lease after tDel (a fill that took it before lost it to
// the delete, and its write is refused), then waited the whole report delay D on a precise timer
// before stamping generated_at. So every report served from the cache to a request sent after ackR
// has generated_at >= tDel + D > sentR + D; in words, it was computed by a computation that began
// after the refresh was sent. A report computed before the refresh, or by a computation under way
// when it came (whose write the refresh cancels), has generated_at < tDel + D.
//
// Clocks: generated_at and sentR are both this machine's wall clock (the service runs in this
// process), truncated to ms, which costs at most 1 ms; the timer runs on the monotonic clock, which
// may drift from the wall clock by NTP's slew (<= 0.5 ms/s): kClockMarginMs = 2 ms covers both. The
// order "request sent after the refresh was acknowledged" is taken on the monotonic clock.
//
// Tightness: tDel itself is unknown, only sentR <= tDel <= ackR. A report generated before tDel has
// generated_at < tDel <= ackR, so it fails the check whenever ackR - sentR <= D - margin: such
// refreshes are "covered" (counted and printed; on loopback a refresh takes about a millisecond). A
// report whose computation was under way at tDel fails it unless that computation began within the
// refresh's own round trip. Among several refreshes acknowledged before a request, the one sent last
// gives the highest floor.
struct InvalidationCheck
{
    int refreshes = 0; // acknowledged (200) refreshes
    int covered = 0; // ... answered within D - margin: any stale report after them would show
    int checked = 0; // cached answers to requests sent after an acknowledged refresh of their region
    int violations = 0;
    QStringList examples; // the first few violations
};

InvalidationCheck checkInvalidation(const std::vector<Exchange> &exchanges, qint64 reportDelayMs)
{
    struct Ack
    {
        qint64 ackUs;
        qint64 sentWallMs;
    };
    QHash<QString, std::vector<Ack>> acks;
    InvalidationCheck result;
    for (const Exchange &e : exchanges) {
        if (e.kind != Kind::Refresh || e.status != 200)
            continue;
        acks[e.region].push_back({e.doneUs, e.sentWallMs});
        ++result.refreshes;
        if (e.latencyMs() <= double(reportDelayMs - kClockMarginMs))
            ++result.covered;
    }
    // Sorted by acknowledgement, each with the latest send among the acknowledgements up to it.
    QHash<QString, std::vector<std::pair<qint64, qint64>>> floors;
    for (auto it = acks.begin(); it != acks.end(); ++it) {
        std::sort(it->begin(), it->end(), [](const Ack &a, const Ack &b) { return a.ackUs < b.ackUs; });
        qint64 latestSent = std::numeric_limits<qint64>::min();
        auto &f = floors[it.key()];
        for (const Ack &a : *it) {
            latestSent = std::max(latestSent, a.sentWallMs);
            f.emplace_back(a.ackUs, latestSent);
        }
    }
    for (const Exchange &e : exchanges) {
        if (e.kind != Kind::Report || e.status != 200 || !e.fromCache())
            continue;
        const auto f = floors.constFind(e.region);
        if (f == floors.cend())
            continue;
        // The last acknowledgement strictly before this request was sent.
        const auto after = std::lower_bound(f->cbegin(), f->cend(), e.sentUs,
            [](const std::pair<qint64, qint64> &ack, qint64 sentUs) { return ack.first < sentUs; });
        if (after == f->cbegin())
            continue;
        const qint64 refreshSentMs = std::prev(after)->second;
        ++result.checked;
        const qint64 generatedMs = e.generatedAtMs();
        const qint64 floorMs = refreshSentMs + reportDelayMs - kClockMarginMs;
        if (generatedMs >= floorMs)
            continue;
        if (++result.violations <= 10)
            result.examples << QStringLiteral("%1 %2 %3, requested at %4 ms, after a refresh sent at %5 ms "
                                              "had been acknowledged: generated_at %6 ms < %5 + %7 ms")
                                   .arg(e.region, QString::fromLatin1(e.xCache), QString::fromUtf8(e.body))
                                   .arg(e.sentWallMs)
                                   .arg(refreshSentMs)
                                   .arg(generatedMs)
                                   .arg(reportDelayMs - kClockMarginMs);
    }
    return result;
}

// ---- what the server holds per connection -----------------------------------------------------

// QTcpSocket objects the HTTP server owns (its children, directly or through its QTcpServer): one or
// more per open connection, depending on the HTTP layer's design; 0 when every connection is freed.
int socketObjects(const HttpServer &api)
{
    return int(api.findChildren<QTcpSocket *>().size());
}

// Answer bytes the server has not been able to hand to the kernel.
qint64 unsentBytes(const HttpServer &api)
{
    qint64 total = 0;
    for (const Cachedash::Wire *wire : api.findChildren<Cachedash::Wire *>())
        total += wire->bytesToWrite();
    return total;
}

// The server's own count of connections, where the HTTP layer offers one; -1 otherwise.
template<typename Api>
int connectionRecords(const Api &api)
{
    if constexpr (requires { api.connectionCount(); })
        return int(api.connectionCount());
    else
        return -1;
}

QString recordsText(int held)
{
    return held < 0 ? QStringLiteral("HttpServer keeps no connection count")
                    : QStringLiteral("HttpServer::connectionCount() %1, then 0").arg(held);
}

QByteArray closingGet(const QString &path, const QByteArray &client)
{
    return TestHttp::getRequest(path, {{"X-Forwarded-For", client}, {"Connection", "close"}});
}

} // namespace

class tst_Faults : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();
    void cleanupTestCase();

    void invalidationCheckCatchesAStaleHit();
    void redisKilledAndRestartedUnderLoad();
    void redisPausedUnderLoad_data();
    void redisPausedUnderLoad();
    void clientLeavesMidMiss();
    void clientLeavesMidWrite();
    void clientLeavesHalfwayThroughARequest_data();
    void clientLeavesHalfwayThroughARequest();
    void halfRequestLeftOpenTimesOut_data();
    void halfRequestLeftOpenTimesOut();

private:
    bool startService(ServiceOptions options);
    ServiceOptions loadOptions(bool limiterDenies) const;
    Load::Settings loadSettings() const;
    void expectFreed(int records);
    HttpResult servedOnce(const QString &path, const QByteArray &client);

    std::unique_ptr<RedisHost> m_redis;
    std::unique_ptr<Service> m_service;
};

void tst_Faults::initTestCase()
{
    // Outages make the cache log every write and invalidation it could not do, and the HTTP layer
    // every invalidation: expected here, and thousands of lines. Redis and the limiter still say
    // when they lose and regain Redis.
    QLoggingCategory::setFilterRules(QStringLiteral("cachedash.access.info=false\n"
                                                    "cachedash.cache.info=false\n"
                                                    "cachedash.cache.warning=false"));
    m_redis = std::make_unique<RedisHost>();
    bool started = false;
    QString error;
    m_redis->run([&] {
        started = m_redis->server().start();
        error = m_redis->server().errorString();
    });
    QVERIFY2(started, qPrintable(error));
}

void tst_Faults::init()
{
    bool running = true;
    QString error;
    m_redis->run([&] {
        if (!m_redis->server().isRunning()) {
            running = m_redis->server().restart();
            error = m_redis->server().errorString();
        }
    });
    QVERIFY2(running, qPrintable(error));
    m_redis->server().command({"CLIENT", "UNPAUSE"});
    QCOMPARE(m_redis->server().command({"FLUSHALL"}), QByteArray("OK"));
}

void tst_Faults::cleanup()
{
    m_service.reset();
}

void tst_Faults::cleanupTestCase()
{
    m_service.reset();
    m_redis.reset();
}

bool tst_Faults::startService(ServiceOptions options)
{
    m_service = std::make_unique<Service>(std::move(options));
    if (!QCoro::waitFor(m_service->start())) {
        qWarning().noquote() << m_service->errorString();
        m_service.reset();
        return false;
    }
    return true;
}

ServiceOptions tst_Faults::loadOptions(bool limiterDenies) const
{
    ServiceOptions o = Cachedash::Test::testServiceOptions(m_redis->server());
    o.reportDelay = kReportDelay;
    o.redisTimeout = kRedisTimeout;
    o.cacheTtl = 2s; // expiries add misses to those after refreshes
    o.rateLimit = 1'000'000; // permissive: the limiter runs, but refuses nobody
    o.rateLimitOnError
        = limiterDenies ? SlidingWindowLimiter::OnError::Deny : SlidingWindowLimiter::OnError::Allow;
    return o;
}

Load::Settings tst_Faults::loadSettings() const
{
    Load::Settings s;
    s.port = m_service->port();
    s.regions = {QStringLiteral("emea"), QStringLiteral("apac"), QStringLiteral("amer"),
        QStringLiteral("latam"), QStringLiteral("nordics")};
    return s;
}

// One request on a connection of its own, answered and closed: a well-behaved client.
HttpResult tst_Faults::servedOnce(const QString &path, const QByteArray &client)
{
    TestHttp http{QUrl(m_service->baseUrl())};
    const QList<HttpResult> answers = http.rawOnOneConnection(closingGet(path, client), 1, 5000);
    return answers.value(0);
}

// Everything a departed client held is given back: no request in flight, no socket object, no
// connection record (where the HTTP layer counts them).
void tst_Faults::expectFreed(int records)
{
    HttpServer &api = m_service->http();
    QTRY_COMPARE(m_service->api().inFlight(), 0);
    QTRY_COMPARE(socketObjects(api), 0);
    if (records >= 0)
        QTRY_COMPARE(connectionRecords(api), 0);
}

void tst_Faults::invalidationCheckCatchesAStaleHit()
{
    // The checker itself must be able to fail: a refresh sent at 1000 ms and acknowledged 3 ms later,
    // then cached reports of that region.
    auto exchange = [](Kind kind, qint64 sentMs, qint64 doneMs, const QByteArray &body) {
        Exchange e;
        e.kind = kind;
        e.region = QStringLiteral("emea");
        e.sentWallMs = 1'700'000'000'000 + sentMs;
        e.sentUs = sentMs * 1000;
        e.doneUs = doneMs * 1000;
        e.status = 200;
        e.xCache = kind == Kind::Report ? QByteArrayLiteral("HIT") : QByteArray();
        e.body = body;
        return e;
    };
    auto report = [](qint64 generatedMs) -> QByteArray {
        const QDateTime at = QDateTime::fromMSecsSinceEpoch(1'700'000'000'000 + generatedMs, Qt::UTC);
        return "{\"region\":\"emea\",\"total_sales\":4938.24,\"generated_at\":\""
            + at.toString(Qt::ISODateWithMs).toLatin1() + "\",\"cached\":true}";
    };
    const qint64 d = kReportDelay.count();
    std::vector<Exchange> xs;
    xs.push_back(exchange(Kind::Refresh, 1000, 1003, "{\"invalidated\":true}"));
    xs.push_back(exchange(Kind::Report, 1002, 1004, report(900))); // sent before the acknowledgement
    xs.push_back(exchange(Kind::Report, 1010, 1011, report(1000 + d))); // computed after the delete
    QCOMPARE(checkInvalidation(xs, d).checked, 1);
    QCOMPARE(checkInvalidation(xs, d).violations, 0);
    xs.push_back(exchange(Kind::Report, 1012, 1013, report(1001))); // generated before the delete
    const InvalidationCheck check = checkInvalidation(xs, d);
    QCOMPARE(check.refreshes, 1);
    QCOMPARE(check.covered, 1);
    QCOMPARE(check.checked, 2);
    QCOMPARE(check.violations, 1);
}

void tst_Faults::redisKilledAndRestartedUnderLoad()
{
    QVERIFY(startService(loadOptions(false)));
    Load load(loadSettings());
    struct Chaos
    {
        std::atomic<qint64> killedUs{-1};
        std::atomic<qint64> restartUs{-1};
        std::atomic<qint64> acceptingUs{-1};
        std::atomic<bool> done{false};
        QString error; // written before `done`
    };
    auto chaos = std::make_shared<Chaos>();
    load.start();
    const qint64 t0 = load.startUs();
    TestRedisServer *redis = &m_redis->server();
    m_redis->post([chaos, redis, t0] {
        QThread::usleep(ulong(std::max<qint64>(0, t0 + kKillAfter.count() * 1000 - nowUs())));
        redis->kill();
        chaos->killedUs = nowUs();
        QThread::msleep(ulong(kDownFor.count()));
        chaos->restartUs = nowUs();
        // restart() returns once the new server answers PING, polling every 20 ms: it accepts
        // connections from then on, and began to at most one poll (and a connect) earlier. Recovery
        // is measured from here, so it may read up to ~20 ms short.
        if (redis->restart())
            chaos->acceptingUs = nowUs();
        else
            chaos->error = redis->errorString();
        chaos->done = true;
    });
    spinUntilUs(t0 + kLoadDuration.count() * 1000);
    load.stop();
    spinUntil([&load] { return load.drained(); }, kBoundMs + 1000);
    QVERIFY(spinUntil([&chaos] { return chaos->done.load(); }, 10'000));
    QVERIFY2(chaos->acceptingUs > 0, qPrintable(QStringLiteral("Redis did not restart: ") + chaos->error));

    const Tally tally = tallyOf(load, false);
    const qint64 killedUs = chaos->killedUs;
    const qint64 restartUs = chaos->restartUs;
    const qint64 acceptingUs = chaos->acceptingUs;
    // Recovery: the first /healthz 200 after the kill (the probe asks every 20 ms).
    qint64 recoveredUs = -1;
    int healthDown = 0;
    int bypassedWhileDown = 0;
    int hitsAfterRecovery = 0;
    for (const Exchange &e : load.exchanges()) {
        if (!e.answered() || e.sentUs < killedUs)
            continue;
        if (e.kind == Kind::Health && e.status == 503 && e.sentUs < restartUs)
            ++healthDown;
        if (e.kind == Kind::Health && e.status == 200 && recoveredUs < 0)
            recoveredUs = e.doneUs;
        if (e.kind == Kind::Report && e.xCache == "BYPASS" && e.sentUs < restartUs)
            ++bypassedWhileDown;
        if (e.kind == Kind::Report && e.xCache == "HIT" && recoveredUs > 0 && e.sentUs > recoveredUs)
            ++hitsAfterRecovery;
    }
    const qint64 recoveryMs = recoveredUs < 0 ? -1 : std::max<qint64>(0, recoveredUs - acceptingUs) / 1000;
    const InvalidationCheck invalidation = checkInvalidation(load.exchanges(), kReportDelay.count());
    auto at = [t0](qint64 us) { return (us - t0) / 1000; };

    qInfo().noquote() << QStringLiteral("kill/restart load: %1 requests in %2 ms from %3 clients and a "
                                        "/healthz probe: %4 answered, %5 lost, %6 unexpected answers, "
                                        "%7 connections closed by the server")
                             .arg(tally.sent)
                             .arg(kLoadDuration.count())
                             .arg(loadSettings().clients)
                             .arg(tally.answered)
                             .arg(tally.lost)
                             .arg(load.unexpectedAnswers())
                             .arg(load.connectionsClosed());
    qInfo().noquote() << QStringLiteral("  answers: ") + tally.outcomesText();
    qInfo().noquote() << QStringLiteral("  max latency %1 ms (reports %2, refreshes %3, /healthz %4); bound "
                                        "%5 ms = Redis timeout %6 + report delay %7 + slack %8")
                             .arg(tally.maxLatency(), 0, 'f', 1)
                             .arg(tally.maxLatencyMs[int(Kind::Report)], 0, 'f', 1)
                             .arg(tally.maxLatencyMs[int(Kind::Refresh)], 0, 'f', 1)
                             .arg(tally.maxLatencyMs[int(Kind::Health)], 0, 'f', 1)
                             .arg(kBoundMs)
                             .arg(kRedisTimeout.count())
                             .arg(kReportDelay.count())
                             .arg(kSlack.count());
    qInfo().noquote() << QStringLiteral("  Redis killed at +%1 ms, restarted at +%2 ms, accepting at +%3 ms; "
                                        "/healthz 200 again at +%4 ms: recovery %5 ms (limit %6 ms); "
                                        "while down: %7 /healthz 503, %8 reports BYPASS; %9 hits after")
                             .arg(at(killedUs))
                             .arg(at(restartUs))
                             .arg(at(acceptingUs))
                             .arg(recoveredUs < 0 ? -1 : at(recoveredUs))
                             .arg(recoveryMs)
                             .arg(kRecoveryLimit.count())
                             .arg(healthDown)
                             .arg(bypassedWhileDown)
                             .arg(hitsAfterRecovery);
    qInfo().noquote() << QStringLiteral("  invalidation: %1 refreshes acknowledged (%2 within D - %3 ms, "
                                        "where any stale report would show), %4 cached answers checked "
                                        "after them, %5 violations")
                             .arg(invalidation.refreshes)
                             .arg(invalidation.covered)
                             .arg(kClockMarginMs)
                             .arg(invalidation.checked)
                             .arg(invalidation.violations);
    checkEveryAnswer(tally, load);
    if (QTest::currentTestFailed())
        return;
    // The load was what it claims: hits, misses and refreshes, and the outage was seen.
    QVERIFY(tally.outcomes.value(QStringLiteral("GET /reports/{region} 200 HIT")) > 0);
    QVERIFY(tally.outcomes.value(QStringLiteral("GET /reports/{region} 200 MISS")) > 0);
    QVERIFY(invalidation.refreshes > 0);
    QVERIFY(healthDown > 0);
    QVERIFY(bypassedWhileDown > 0);
    // Recovered in time, and the cache serves hits again.
    QVERIFY2(recoveredUs > 0, "/healthz never answered 200 again after the restart");
    QVERIFY2(recoveryMs <= kRecoveryLimit.count(), qPrintable(QString::number(recoveryMs)));
    QVERIFY(hitsAfterRecovery > 0);
    // No report a refresh acknowledged came back from the cache.
    QVERIFY(invalidation.checked > 0);
    QVERIFY2(invalidation.violations == 0, qPrintable(invalidation.examples.join(u'\n')));
}

void tst_Faults::redisPausedUnderLoad_data()
{
    QTest::addColumn<bool>("limiterDenies");
    QTest::newRow("rate limiter fails open (allow)") << false;
    QTest::newRow("rate limiter fails closed (deny)") << true;
}

void tst_Faults::redisPausedUnderLoad()
{
    QFETCH(bool, limiterDenies);
    QVERIFY(startService(loadOptions(limiterDenies)));
    Load load(loadSettings());
    load.start();
    const qint64 t0 = load.startUs();
    spinUntilUs(t0 + 400'000);
    // The pause begins when Redis runs the command, between these two moments, and lasts kPause.
    const qint64 pauseSentUs = nowUs();
    const QByteArray paused
        = m_redis->server().command({"CLIENT", "PAUSE", QByteArray::number(qint64(kPause.count())), "ALL"});
    const qint64 pauseAckUs = nowUs();
    QCOMPARE(paused, QByteArray("OK"));
    const qint64 pauseEndsUs = pauseSentUs + kPause.count() * 1000; // at the earliest
    // The load goes on for a while after the pause. Had a command that timed out during the pause
    // (and then ran when it ended) left a fill lease behind, that region's next fills would wait for
    // the lease to expire (2 x 150 + 1000 ms) before computing: those sent in the first 400 ms would
    // be late.
    spinUntilUs(pauseEndsUs + 800'000);
    load.stop();
    spinUntil([&load] { return load.drained(); }, kBoundMs + 1000);

    const Tally tally = tallyOf(load, limiterDenies);
    // Requests entirely inside the pause: sent after it began, and due (bound) before it ends.
    int inside = 0;
    int insideAsExpected = 0;
    QStringList unexpected;
    for (const Exchange &e : load.exchanges()) {
        if (e.kind != Kind::Report || e.sentUs < pauseAckUs || e.sentUs + kBoundMs * 1000 > pauseEndsUs)
            continue;
        ++inside;
        const bool expected = limiterDenies ? e.status == 503 && e.retryAfter.toInt() >= 1
                                            : e.status == 200 && e.xCache == "BYPASS";
        if (expected)
            ++insideAsExpected;
        else if (unexpected.size() < 10)
            unexpected << QStringLiteral("%1 sent at +%2 ms: %3 %4 %5")
                              .arg(e.region)
                              .arg((e.sentUs - t0) / 1000)
                              .arg(e.status)
                              .arg(QString::fromLatin1(e.xCache), QString::fromUtf8(e.body.left(160)));
    }
    qInfo().noquote() << QStringLiteral(
        "pause (%1): %2 requests, %3 answered, %4 lost, %5 unexpected answers; "
        "CLIENT PAUSE %6 ms at +%7 ms")
                             .arg(limiterDenies ? QStringLiteral("deny") : QStringLiteral("allow"))
                             .arg(tally.sent)
                             .arg(tally.answered)
                             .arg(tally.lost)
                             .arg(load.unexpectedAnswers())
                             .arg(kPause.count())
                             .arg((pauseSentUs - t0) / 1000);
    qInfo().noquote() << QStringLiteral("  answers: ") + tally.outcomesText();
    qInfo().noquote() << QStringLiteral(
        "  max latency %1 ms (reports %2, refreshes %3, /healthz %4); bound %5 ms; "
        "%6 reports wholly inside the pause, %7 of them %8")
                             .arg(tally.maxLatency(), 0, 'f', 1)
                             .arg(tally.maxLatencyMs[int(Kind::Report)], 0, 'f', 1)
                             .arg(tally.maxLatencyMs[int(Kind::Refresh)], 0, 'f', 1)
                             .arg(tally.maxLatencyMs[int(Kind::Health)], 0, 'f', 1)
                             .arg(kBoundMs)
                             .arg(inside)
                             .arg(insideAsExpected)
                             .arg(limiterDenies ? QStringLiteral("503 with Retry-After")
                                                : QStringLiteral("200 BYPASS"));
    checkEveryAnswer(tally, load);
    if (QTest::currentTestFailed())
        return;
    QVERIFY(inside > 0);
    QVERIFY2(insideAsExpected == inside, qPrintable(unexpected.join(u'\n')));
    const int refused = tally.outcomes.value(QStringLiteral("GET /reports/{region} 503"));
    if (limiterDenies)
        QVERIFY(refused > 0);
    else
        QCOMPARE(refused, 0);

    // Afterwards the service is whole again: healthy, and serving from the cache.
    TestHttp http{QUrl(m_service->baseUrl())};
    QTRY_COMPARE_WITH_TIMEOUT(http.get(QStringLiteral("/healthz")).status, 200, 3000);
    QTRY_COMPARE_WITH_TIMEOUT(
        http.get(QStringLiteral("/reports/emea"), {{"X-Forwarded-For", "198.18.8.1"}}).header("x-cache"),
        QByteArray("HIT"), 3000);
}

void tst_Faults::clientLeavesMidMiss()
{
    ServiceOptions o = Cachedash::Test::testServiceOptions(m_redis->server());
    o.reportDelay = 600ms;
    QVERIFY(startService(o));
    HttpServer &api = m_service->http();
    const int records = connectionRecords(api);
    QCOMPARE(socketObjects(api), 0);

    auto leaver = std::make_unique<QTcpSocket>();
    leaver->connectToHost(QHostAddress(QHostAddress::LocalHost), m_service->port());
    QVERIFY(leaver->waitForConnected(2000));
    leaver->write(
        TestHttp::getRequest(QStringLiteral("/reports/leaver"), {{"X-Forwarded-For", "198.18.9.1"}}));
    QVERIFY(leaver->waitForBytesWritten(2000));
    QTRY_COMPARE(m_service->source().inFlight(), 1); // the miss is computing
    QCOMPARE(m_service->api().inFlight(), 1);
    const int held = socketObjects(api);
    const int heldRecords = connectionRecords(api);
    QVERIFY(held > 0); // what is counted below is really there
    if (records >= 0)
        QCOMPARE(heldRecords, 1);

    leaver->abort();
    leaver.reset();
    // The client's FIN may only close its sending side (it may still read its answer), so the
    // connection is kept until the answer is written; the client being gone, the write fails and
    // everything is let go, within the report delay.
    QTRY_COMPARE_WITH_TIMEOUT(socketObjects(api), 0, 2000);
    expectFreed(records);
    QCOMPARE(m_service->source().inFlight(), 0);
    qInfo("mid-miss: %d socket object(s) held while the client waited, 0 after it left; %s", held,
        qPrintable(recordsText(heldRecords)));

    // The computation was stored for the next reader, who is served.
    const HttpResult r = servedOnce(QStringLiteral("/reports/leaver"), "198.18.9.2");
    QCOMPARE(r.status, 200);
    QCOMPARE(r.header("x-cache"), QByteArray("HIT"));
    expectFreed(records);
}

void tst_Faults::clientLeavesMidWrite()
{
    ServiceOptions o = Cachedash::Test::testServiceOptions(m_redis->server());
    o.rateLimit = 1'000'000;
    QVERIFY(startService(o));
    HttpServer &api = m_service->http();
    const int records = connectionRecords(api);
    // The longest region there is, for large-ish report answers; /metrics answers are larger still.
    const QString region(64, u'w');
    const QString reportPath = QStringLiteral("/reports/") + region;
    QCOMPARE(servedOnce(reportPath, "198.18.10.1").status, 200);
    const HttpResult metrics = servedOnce(QStringLiteral("/metrics"), "198.18.10.1");
    QCOMPARE(metrics.status, 200);
    QTRY_COMPARE(socketObjects(api), 0);

    // Rounds of 200 pipelined GETs, mostly of /metrics, on one connection that never reads a byte:
    // the answers fill the kernel's buffers (several MB on loopback, as they grow), then pile up in
    // the server. Qt's read buffer is bounded so that this socket stops draining the kernel, too.
    QTcpSocket hog;
    hog.setReadBufferSize(4096);
    hog.connectToHost(QHostAddress(QHostAddress::LocalHost), m_service->port());
    QVERIFY(hog.waitForConnected(2000));
    QByteArray round;
    for (int i = 0; i < 200; ++i) {
        const QString path = i % 5 ? QStringLiteral("/metrics") : reportPath;
        round += TestHttp::getRequest(path, {{"X-Forwarded-For", "198.18.10.2"}});
    }
    int sent = 0;
    qint64 unsent = 0;
    while (unsent == 0 && sent < 20 * 200) {
        hog.write(round);
        sent += 200;
        // Let the server do all it can: nothing in flight, and its unsent bytes steady for 100 ms.
        qint64 steadySinceUs = nowUs();
        unsent = -1;
        spinUntil(
            [&] {
                const qint64 now = unsentBytes(api);
                if (now != unsent || m_service->api().inFlight() != 0 || hog.bytesToWrite() > 0) {
                    unsent = now;
                    steadySinceUs = nowUs();
                    return false;
                }
                return nowUs() - steadySinceUs >= 100'000;
            },
            3000);
    }
    const int held = socketObjects(api);
    const int heldRecords = connectionRecords(api);
    QVERIFY2(unsent > 0, "the server was never left holding answers it could not write");
    QCOMPARE(m_service->api().inFlight(), 0);

    hog.abort();
    expectFreed(records);
    qInfo("mid-write: %d GETs pipelined (/metrics answers %lld bytes each); the server held %lld unsent "
          "answer bytes in %d socket object(s) when the client left, and 0 objects after; %s",
        sent, qint64(metrics.body.size()), unsent, held, qPrintable(recordsText(heldRecords)));

    // Others are served.
    const HttpResult r = servedOnce(reportPath, "198.18.10.3");
    QCOMPARE(r.status, 200);
    QCOMPARE(r.header("x-cache"), QByteArray("HIT"));
    QCOMPARE(servedOnce(QStringLiteral("/livez"), "198.18.10.3").status, 200);
    expectFreed(records);
}

void tst_Faults::clientLeavesHalfwayThroughARequest_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("half a request line") << QByteArray("GET /reports/ha");
    QTest::newRow("half the headers")
        << QByteArray("GET /reports/half HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: 198.18");
    QTest::newRow("half a body") << QByteArray(
        "POST /reports/half/refresh HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 64\r\n\r\n0123456789");
}

void tst_Faults::clientLeavesHalfwayThroughARequest()
{
    QFETCH(QByteArray, bytes);
    QVERIFY(startService(Cachedash::Test::testServiceOptions(m_redis->server())));
    HttpServer &api = m_service->http();
    const int records = connectionRecords(api);

    auto dawdler = std::make_unique<QTcpSocket>();
    dawdler->connectToHost(QHostAddress(QHostAddress::LocalHost), m_service->port());
    QVERIFY(dawdler->waitForConnected(2000));
    dawdler->write(bytes);
    QVERIFY(dawdler->waitForBytesWritten(2000));
    QTRY_VERIFY(socketObjects(api) > 0);
    const int held = socketObjects(api);
    const int heldRecords = connectionRecords(api);

    // While it dawdles, others are served: half a request holds up nobody, and is no request yet.
    QCOMPARE(servedOnce(QStringLiteral("/livez"), "198.18.11.1").status, 200);
    QCOMPARE(servedOnce(QStringLiteral("/reports/patient"), "198.18.11.1").status, 200);
    QCOMPARE(m_service->api().inFlight(), 0);
    QTRY_COMPARE(socketObjects(api), held); // the served clients' connections are gone again

    // Here the client leaves; halfRequestLeftOpenTimesOut() covers the one that stays.
    dawdler->abort();
    dawdler.reset();
    expectFreed(records);
    qInfo("half a request: %d socket object(s) held while the client dawdled, 0 after it left; %s", held,
        qPrintable(recordsText(heldRecords)));
    QCOMPARE(servedOnce(QStringLiteral("/livez"), "198.18.11.2").status, 200);
}

void tst_Faults::halfRequestLeftOpenTimesOut_data()
{
    clientLeavesHalfwayThroughARequest_data();
}

void tst_Faults::halfRequestLeftOpenTimesOut()
{
    // A client that sends half a request and keeps its connection open is answered 408 once the
    // request timeout has passed (plus the guard's 250 ms sweep), and everything it held is freed.
    QFETCH(QByteArray, bytes);
    ServiceOptions options = Cachedash::Test::testServiceOptions(m_redis->server());
    options.requestTimeout = std::chrono::milliseconds(600);
    QVERIFY(startService(options));
    HttpServer &api = m_service->http();
    const int records = connectionRecords(api);

    QTcpSocket dawdler;
    dawdler.connectToHost(QHostAddress(QHostAddress::LocalHost), m_service->port());
    QVERIFY(dawdler.waitForConnected(2000));
    QElapsedTimer timer;
    timer.start();
    dawdler.write(bytes);
    QVERIFY(dawdler.waitForBytesWritten(2000));
    QByteArray answer;
    QTRY_VERIFY_WITH_TIMEOUT(
        (answer += dawdler.readAll(), dawdler.state() == QAbstractSocket::UnconnectedState), 3000);
    answer += dawdler.readAll();
    const qint64 elapsed = timer.elapsed();
    qInfo("half a request left open: %s after %lld ms", answer.left(answer.indexOf('\r')).constData(),
        qlonglong(elapsed));
    QVERIFY2(answer.startsWith("HTTP/1.1 408 "), answer.constData());
    QVERIFY(elapsed >= 600);
    QVERIFY(elapsed < 600 + 250 + 1000);
    expectFreed(records);
    QCOMPARE(servedOnce(QStringLiteral("/livez"), "198.18.11.3").status, 200);
}

QTEST_GUILESS_MAIN(tst_Faults)
#include "tst_faults.moc"
