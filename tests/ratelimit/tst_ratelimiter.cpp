// SPDX-License-Identifier: GPL-3.0-or-later
#include "ratelimit/ratelimiter.h"
#include "redis/redisrouter.h"
#include "testlib/testredisserver.h"

#include <QTest>

#include <qcoro/qcorotask.h>

#include <vector>

using namespace std::chrono_literals;
using Cachedash::RateLimitDecision;
using Cachedash::RateLimiter;
using Cachedash::RedisReply;
using Cachedash::RedisRouter;
using Cachedash::RedisUrl;
using Cachedash::Test::TestRedisServer;

// The limiter against a real Redis: the decisions, and how checks asked in one turn of the event
// loop share one script call.
class tst_RateLimiter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();

    void oneCallDecidesATurnInOrder();
    void aFullBatchLeavesAtOnce();
    void batchesFollowEachOther();
    void checksWaitingForAWriteFailWhenTheClientCloses();

private:
    // Asks for every client in `clients` within one turn, then waits for all the answers.
    static std::vector<RateLimitDecision> checkAll(RateLimiter &limiter, const QStringList &clients);
    qint64 scriptCalls() const { return m_server.commandCalls("evalsha") + m_server.commandCalls("eval"); }

    TestRedisServer m_server;
    std::unique_ptr<RedisRouter> m_redis;
};

void tst_RateLimiter::initTestCase()
{
    QVERIFY2(m_server.start(), qPrintable(m_server.errorString()));
}

void tst_RateLimiter::init()
{
    QCOMPARE(m_server.command({"FLUSHALL"}), QByteArray("OK"));
    m_redis = std::make_unique<RedisRouter>(RedisUrl::parse(m_server.url()).value());
    m_redis->open();
    QVERIFY(QCoro::waitFor(m_redis->waitForReady(5s)));
    // Load the script, so that each test counts its own calls only.
    RateLimiter warm(*m_redis, "rate:", {{{5, 10s}}});
    QVERIFY(checkAll(warm, {QStringLiteral("warm-up")}).at(0).allowed);
    QCOMPARE(m_server.command({"CONFIG", "RESETSTAT"}), QByteArray("OK"));
}

std::vector<RateLimitDecision> tst_RateLimiter::checkAll(RateLimiter &limiter, const QStringList &clients)
{
    std::vector<QCoro::Task<RateLimitDecision>> pending;
    for (const QString &client : clients)
        pending.push_back(limiter.check(client));
    std::vector<RateLimitDecision> decisions;
    for (QCoro::Task<RateLimitDecision> &task : pending)
        decisions.push_back(QCoro::waitFor(task));
    return decisions;
}

void tst_RateLimiter::oneCallDecidesATurnInOrder()
{
    RateLimiter limiter(*m_redis, "rate:", {{{5, 10s}}});
    const QString a = QStringLiteral("192.0.2.1");
    const QString b = QStringLiteral("192.0.2.2");
    // Interleaved: a gets 8 checks, b gets 3.
    const QStringList clients{a, b, a, a, b, a, a, a, b, a, a};
    const std::vector<RateLimitDecision> d = checkAll(limiter, clients);
    QCOMPARE(scriptCalls(), 1);

    int nthA = 0;
    int nthB = 0;
    for (size_t i = 0; i < d.size(); ++i) {
        QVERIFY(!d[i].failed);
        const int nth = clients[qsizetype(i)] == a ? ++nthA : ++nthB;
        // Each client's first five are admitted, in the order asked, and counted down.
        QCOMPARE(d[i].allowed, nth <= 5);
        QCOMPARE(d[i].remaining, std::max(0, 5 - nth));
        QCOMPARE(d[i].limit, 5);
        // The oldest admission is this very moment's: a slot frees a whole window from now.
        QVERIFY2(
            d[i].nextSlot > 9s && d[i].nextSlot <= 10s, qPrintable(QString::number(d[i].nextSlot.count())));
    }
    QCOMPARE(m_server.command({"ZCARD", RateLimiter::keyFor(a)}), QByteArray("5"));
    QCOMPARE(m_server.command({"ZCARD", RateLimiter::keyFor(b)}), QByteArray("3"));
    const qint64 ttl = m_server.command({"PTTL", RateLimiter::keyFor(a)}).toLongLong();
    QVERIFY2(ttl > 9000 && ttl <= 10000, qPrintable(QString::number(ttl)));
    QCOMPARE(limiter.counters().allowed, 8u);
    QCOMPARE(limiter.counters().limited, 3u);

    // The next turn sees this one's admissions.
    const std::vector<RateLimitDecision> later = checkAll(limiter, {b, b, b});
    QCOMPARE(later[0].allowed, true);
    QCOMPARE(later[1].allowed, true);
    QCOMPARE(later[2].allowed, false);
    QCOMPARE(scriptCalls(), 2);
}

void tst_RateLimiter::aFullBatchLeavesAtOnce()
{
    RateLimiter limiter(*m_redis, "rate:", {{{1000, 10s}}});
    const int n = 2 * RateLimiter::MaxBatch + 10;
    QStringList clients;
    for (int i = 0; i < n; ++i)
        clients << QStringLiteral("198.51.100.%1").arg(i % 3);
    const quint64 before = m_redis->clientStats().commands;
    std::vector<QCoro::Task<RateLimitDecision>> pending;
    for (const QString &client : clients)
        pending.push_back(limiter.check(client));
    // Two full batches were sent while the checks were still being asked; the rest waits for the write.
    QCOMPARE(m_redis->clientStats().commands - before, 2u);
    std::vector<RateLimitDecision> d;
    for (QCoro::Task<RateLimitDecision> &task : pending)
        d.push_back(QCoro::waitFor(task));
    QCOMPARE(scriptCalls(), 3);
    for (int i = 0; i < n; ++i) {
        QVERIFY(d[size_t(i)].allowed);
        // Client i % 3 had i / 3 admissions before this one.
        QCOMPARE(d[size_t(i)].remaining, 1000 - (i / 3 + 1));
    }
    qint64 members = 0;
    for (int c = 0; c < 3; ++c)
        members += m_server.command({"ZCARD", RateLimiter::keyFor(QStringLiteral("198.51.100.%1").arg(c))})
                       .toLongLong();
    QCOMPARE(members, n);
}

void tst_RateLimiter::batchesFollowEachOther()
{
    // A window short enough to watch slide: 3 per second.
    RateLimiter limiter(*m_redis, "rate:", {{{3, 1s}}});
    const QString c = QStringLiteral("203.0.113.9");
    const std::vector<RateLimitDecision> first = checkAll(limiter, {c, c, c, c});
    QVERIFY(first[2].allowed);
    QVERIFY(!first[3].allowed);
    // Honest: waiting the advertised time is enough...
    QTest::qWait(int(first[3].nextSlot.count()) + 20);
    const std::vector<RateLimitDecision> second = checkAll(limiter, {c, c, c, c});
    QVERIFY(second[0].allowed);
    QVERIFY(second[2].allowed);
    QVERIFY(!second[3].allowed);
    // ...and members of different batches never collide.
    QCOMPARE(m_server.command({"ZCARD", RateLimiter::keyFor(c)}), QByteArray("3"));
}

void tst_RateLimiter::checksWaitingForAWriteFailWhenTheClientCloses()
{
    RateLimiter limiter(*m_redis, "rate:", {{{5, 10s}}});
    limiter.setOnError(RateLimiter::OnError::Deny);
    std::vector<QCoro::Task<RateLimitDecision>> pending;
    for (int i = 0; i < 3; ++i)
        pending.push_back(limiter.check(QStringLiteral("192.0.2.77")));
    m_redis->close();
    for (QCoro::Task<RateLimitDecision> &task : pending) {
        QVERIFY(task.isReady());
        const RateLimitDecision d = QCoro::waitFor(task);
        QVERIFY(d.failed);
        QVERIFY(!d.allowed);
        QVERIFY(!d.problem.isEmpty());
    }
    QCOMPARE(limiter.counters().errors, 3u);
    QCOMPARE(
        m_server.command({"EXISTS", RateLimiter::keyFor(QStringLiteral("192.0.2.77"))}), QByteArray("0"));
}

QTEST_GUILESS_MAIN(tst_RateLimiter)
#include "tst_ratelimiter.moc"
