// SPDX-License-Identifier: GPL-3.0-or-later
#include "ratelimit/ratelimiter.h"
#include "redis/redisrouter.h"
#include "testlib/testredisserver.h"
#include "testlib/testwait.h"

#include <QRandomGenerator>
#include <QTest>

#include <qcoro/qcorotask.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

using namespace std::chrono_literals;
using Cachedash::RateAlgorithm;
using Cachedash::RateLimit;
using Cachedash::RateLimitDecision;
using Cachedash::RateLimiter;
using Cachedash::RateLimitPolicy;
using Cachedash::RedisRouter;
using Cachedash::RedisUrl;
using Cachedash::Test::monotonicUs;
using Cachedash::Test::runEventsUntil;
using Cachedash::Test::TestRedisServer;
using Cachedash::Test::waitUntil;

namespace {

// The wall clock in microseconds: on this host, the clock Redis's TIME reads.
qint64 systemUs()
{
    using namespace std::chrono;
    return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

qint64 ceilMs(qint64 us)
{
    return (us + 999) / 1000;
}

// One limit counted by one algorithm, written from the definition in its script's header
// (resources/lua/ratelimit_*.lua), not from the script's code.
class LimitModel
{
public:
    explicit LimitModel(const RateLimit &limit)
        : m_n(limit.limit)
        , m_windowMs(limit.windowMs().count())
    { }
    virtual ~LimitModel() = default;
    virtual std::unique_ptr<LimitModel> clone() const = 0;
    // Whether this limit alone admits a request at `nowUs` (Redis TIME, µs).
    virtual bool admits(qint64 nowUs) const = 0;
    // Records one admitted request at `nowUs`.
    virtual void admit(qint64 nowUs) = 0;
    virtual QString describe(qint64 nowUs) const = 0;

    // Requests this limit admits one after the other at `nowUs`: counted by admitting them on a copy.
    int allowance(qint64 nowUs) const
    {
        std::unique_ptr<LimitModel> copy = clone();
        int k = 0;
        while (k <= m_n && copy->admits(nowUs)) {
            copy->admit(nowUs);
            ++k;
        }
        return k;
    }
    int limit() const { return m_n; }
    qint64 windowMs() const { return m_windowMs; }

protected:
    int m_n;
    qint64 m_windowMs;
};

// Sliding log: an entry admitted at t (ms = floor(now_us / 1000)) counts while now < t + W; a
// request is admitted when fewer than N entries count.
class SlidingLogModel final : public LimitModel
{
public:
    using LimitModel::LimitModel;
    std::unique_ptr<LimitModel> clone() const override { return std::make_unique<SlidingLogModel>(*this); }
    bool admits(qint64 nowUs) const override { return counted(nowUs / 1000) < m_n; }
    void admit(qint64 nowUs) override { m_admittedMs.push_back(nowUs / 1000); }
    QString describe(qint64 nowUs) const override
    {
        QStringList ages;
        for (qint64 t : m_admittedMs)
            if (nowUs / 1000 < t + m_windowMs)
                ages << QString::number(nowUs / 1000 - t);
        return QStringLiteral("entries aged [%1] ms").arg(ages.join(u' '));
    }

private:
    int counted(qint64 now) const
    {
        return int(std::count_if(
            m_admittedMs.begin(), m_admittedMs.end(), [&](qint64 t) { return now < t + m_windowMs; }));
    }
    std::vector<qint64> m_admittedMs;
};

// GCRA, in µs: T = max(1, floor(W_us / N)), tau = (N - 1) * T; a request conforms when
// now >= TAT - tau, and admitting it makes TAT = max(TAT, now) + T. No TAT yet: 0.
class GcraModel final : public LimitModel
{
public:
    explicit GcraModel(const RateLimit &limit)
        : LimitModel(limit)
        , m_t(std::max<qint64>(1, m_windowMs * 1000 / m_n))
        , m_tau((m_n - 1) * m_t)
    { }
    std::unique_ptr<LimitModel> clone() const override { return std::make_unique<GcraModel>(*this); }
    bool admits(qint64 nowUs) const override { return nowUs >= m_tat - m_tau; }
    void admit(qint64 nowUs) override { m_tat = std::max(m_tat, nowUs) + m_t; }
    QString describe(qint64 nowUs) const override
    {
        return QStringLiteral("TAT - now = %1 us, T = %2 us, tau = %3 us")
            .arg(m_tat - nowUs)
            .arg(m_t)
            .arg(m_tau);
    }

private:
    qint64 m_t;
    qint64 m_tau;
    qint64 m_tat = 0;
};

// Sliding window counter, in ms: fixed windows numbered floor(now / W), e = now - index * W, c this
// window's count, p the previous one's; admitted when p * (W - e) + c * W < N * W.
class WindowCounterModel final : public LimitModel
{
public:
    using LimitModel::LimitModel;
    std::unique_ptr<LimitModel> clone() const override { return std::make_unique<WindowCounterModel>(*this); }
    bool admits(qint64 nowUs) const override
    {
        const View v = at(nowUs);
        return v.p * (m_windowMs - v.e) + v.c * m_windowMs < qint64(m_n) * m_windowMs;
    }
    void admit(qint64 nowUs) override
    {
        const View v = at(nowUs);
        m_index = v.index;
        m_c = v.c + 1;
        m_p = v.p;
    }
    QString describe(qint64 nowUs) const override
    {
        const View v = at(nowUs);
        return QStringLiteral("c = %1, p = %2, e = %3 ms").arg(v.c).arg(v.p).arg(v.e);
    }

private:
    struct View
    {
        qint64 index, c, p, e;
    };
    View at(qint64 nowUs) const
    {
        const qint64 now = nowUs / 1000;
        const qint64 index = now / m_windowMs;
        View v{index, 0, 0, now - index * m_windowMs};
        if (m_index == index) {
            v.c = m_c;
            v.p = m_p;
        } else if (m_index == index - 1) {
            v.p = m_c;
        }
        return v;
    }
    std::optional<qint64> m_index; // the window m_c counts
    qint64 m_c = 0;
    qint64 m_p = 0;
};

// What the model says of one request.
struct Expected
{
    bool admitted = false;
    int binding = 0; // 0-based
    int remaining = 0;
    qint64 waitMs = 0; // nextSlot
    bool valid = true; // false: the model found no moment within its bound (a bug in the model)
};

// A client's limits: a request is admitted only when every limit admits it, and then it is counted
// in every one; a refused request changes nothing.
class StackModel
{
public:
    StackModel(RateAlgorithm algorithm, const QList<RateLimit> &limits)
    {
        qint64 longest = 0;
        for (const RateLimit &l : limits) {
            switch (algorithm) {
            case RateAlgorithm::SlidingLog: m_limits.push_back(std::make_unique<SlidingLogModel>(l)); break;
            case RateAlgorithm::Gcra: m_limits.push_back(std::make_unique<GcraModel>(l)); break;
            case RateAlgorithm::SlidingWindowCounter:
                m_limits.push_back(std::make_unique<WindowCounterModel>(l));
                break;
            }
            longest = std::max<qint64>(longest, l.windowMs().count());
        }
        // No algorithm makes a request wait longer than two windows.
        m_boundUs = (2 * longest + 2) * 1000;
    }

    bool admits(qint64 nowUs) const
    {
        return std::all_of(m_limits.begin(), m_limits.end(), [&](const auto &l) { return l->admits(nowUs); });
    }

    // The first d >= 0 (µs) at which `holds(d)`, for a predicate that keeps holding once it does:
    // -1 if not even at the bound.
    qint64 first(const std::function<bool(qint64)> &holds) const
    {
        if (holds(0))
            return 0;
        if (!holds(m_boundUs))
            return -1;
        qint64 no = 0;
        qint64 yes = m_boundUs;
        while (yes - no > 1) {
            const qint64 mid = no + (yes - no) / 2;
            (holds(mid) ? yes : no) = mid;
        }
        return yes;
    }
    // Until every limit admits (µs).
    qint64 untilAdmitsUs(qint64 nowUs) const
    {
        return first([&](qint64 d) { return admits(nowUs + d); });
    }
    // Until some limit admits one more request than now (µs), -1 if all are full.
    qint64 untilASlotFreesUs(qint64 nowUs) const
    {
        qint64 soonest = -1;
        for (const auto &l : m_limits) {
            const int now = l->allowance(nowUs);
            if (now >= l->limit())
                continue;
            const qint64 us = first([&](qint64 d) { return l->allowance(nowUs + d) > now; });
            if (us >= 0 && (soonest < 0 || us < soonest))
                soonest = us;
        }
        return soonest;
    }

    Expected decide(qint64 nowUs)
    {
        Expected e;
        if (admits(nowUs)) {
            for (const auto &l : m_limits)
                l->admit(nowUs);
            // The binding limit: the one with the fewest requests left, the first of equals.
            e.admitted = true;
            e.remaining = std::numeric_limits<int>::max();
            for (size_t j = 0; j < m_limits.size(); ++j) {
                const int left = m_limits[j]->allowance(nowUs);
                if (left < e.remaining) {
                    e.binding = int(j);
                    e.remaining = left;
                }
            }
            // Until the binding limit admits one more request than now (0: it admits them all).
            const LimitModel &b = *m_limits[size_t(e.binding)];
            if (e.remaining < b.limit()) {
                const qint64 us = first([&](qint64 d) { return b.allowance(nowUs + d) > e.remaining; });
                e.valid = us >= 0;
                e.waitMs = ceilMs(us);
            }
        } else {
            // Until every limit admits again; the binding one frees last, the first of equals.
            qint64 wait = 0;
            for (size_t j = 0; j < m_limits.size(); ++j) {
                const LimitModel &l = *m_limits[j];
                const qint64 us = first([&](qint64 d) { return l.admits(nowUs + d); });
                e.valid = e.valid && us >= 0;
                if (us > wait) {
                    e.binding = int(j);
                    wait = us;
                }
            }
            e.waitMs = ceilMs(wait);
        }
        return e;
    }

    QString describe(qint64 nowUs) const
    {
        QStringList parts;
        for (const auto &l : m_limits)
            parts << QStringLiteral("%1/%2ms: %3").arg(l->limit()).arg(l->windowMs()).arg(l->describe(nowUs));
        return parts.join(QStringLiteral("; "));
    }

private:
    std::vector<std::unique_ptr<LimitModel>> m_limits;
    qint64 m_boundUs = 0;
};

QString decisionText(bool admitted, const RateLimit &binding, int remaining, qint64 waitMs)
{
    return QStringLiteral("%1 binding %2 remaining %3 next %4 ms")
        .arg(admitted ? QStringLiteral("admitted") : QStringLiteral("refused "), binding.text())
        .arg(remaining)
        .arg(waitMs);
}

// One client's requests, asked of the real limiter and of the model side by side.
class Sequence
{
public:
    Sequence(RedisRouter &redis, RateLimitPolicy policy, QString client)
        : m_limiter(redis, "rate:", policy)
        , m_model(policy.algorithm, policy.limits)
        , m_limits(policy.limits)
        , m_client(std::move(client))
    { }

    // Asks `count` checks in one turn of the event loop, then compares each decision, in order,
    // with the model's. Returns the mismatch, or an empty string.
    QString ask(int count, const QString &step)
    {
        std::vector<QCoro::Task<RateLimitDecision>> pending;
        for (int i = 0; i < count; ++i)
            pending.push_back(m_limiter.check(m_client));
        m_last.clear();
        for (QCoro::Task<RateLimitDecision> &task : pending)
            m_last.push_back(QCoro::waitFor(task));
        m_lastReceivedUs = monotonicUs();
        for (const RateLimitDecision &d : m_last) {
            const QString problem = compare(d, step);
            if (!problem.isEmpty())
                return problem;
        }
        return {};
    }

    // Checks one after the other (`perTurn` a turn), each waiting for its answer, from `fromUs`
    // until one is decided at `toUs` or later (Redis clock). *hit: whether decisions fell both in
    // the millisecond before `edgeUs` and in the one after.
    QString sweep(qint64 edgeUs, qint64 fromUs, qint64 toUs, int perTurn, bool *hit)
    {
        if (fromUs > systemUs()
            && !waitUntil([&] { return systemUs() >= fromUs; }, (fromUs - systemUs()) / 1000 + 1000))
            return QStringLiteral("the clock did not get to %1 us").arg(fromUs);
        bool before = false;
        bool after = false;
        for (int i = 0; i < 400; ++i) {
            const QString problem = ask(perTurn, QStringLiteral("edge"));
            if (!problem.isEmpty())
                return problem;
            const qint64 at = m_last.back().decidedAtUs;
            before = before || (at >= edgeUs - 1000 && at < edgeUs);
            after = after || (at >= edgeUs && at < edgeUs + 1000);
            if (at >= toUs)
                break;
        }
        *hit = before && after;
        return {};
    }

    const std::vector<RateLimitDecision> &last() const { return m_last; }
    qint64 lastReceivedUs() const { return m_lastReceivedUs; }
    const StackModel &model() const { return m_model; }
    int requests() const { return m_requests; }
    // How many decisions each limit spoke for (admitted, refused).
    QString bindings() const
    {
        QStringList parts;
        for (qsizetype j = 0; j < m_limits.size(); ++j)
            parts << QStringLiteral("%1 %2+%3")
                         .arg(m_limits[j].text())
                         .arg(m_bindings[size_t(j)][0])
                         .arg(m_bindings[size_t(j)][1]);
        return parts.join(QStringLiteral(", "));
    }
    int admitted() const { return m_admitted; }
    // Whether every limit spoke for some decision.
    bool everyLimitBound() const
    {
        return std::all_of(
            m_bindings.begin(), m_bindings.end(), [](const auto &b) { return b[0] + b[1] > 0; });
    }

private:
    QString compare(const RateLimitDecision &d, const QString &step)
    {
        ++m_requests;
        if (d.failed || d.exempt || d.decidedAtUs <= 0)
            return fail(
                QStringLiteral("request %1: no decision from Redis: %2").arg(m_requests).arg(d.problem));
        const qint64 now = d.decidedAtUs;
        const QString before = m_model.describe(now);
        const Expected e = m_model.decide(now);
        if (!e.valid)
            return fail(QStringLiteral("the model found no answer within its bound: %1").arg(before));
        const RateLimit &binding = m_limits[e.binding];
        const QString real = decisionText(d.allowed, {d.limit, d.window}, d.remaining, d.nextSlot.count());
        const QString model = decisionText(e.admitted, binding, e.remaining, e.waitMs);
        m_trace << QStringLiteral("#%1 %2 at %3 us: real %4 | model %5")
                       .arg(m_requests)
                       .arg(step)
                       .arg(now)
                       .arg(real, model);
        ++m_bindings[size_t(e.binding)][e.admitted ? 0 : 1];
        if (e.admitted) {
            ++m_admitted;
            m_admittedAt << QString::number(now);
        }
        if (d.allowed != e.admitted || d.limited == d.allowed || d.limit != binding.limit
            || d.window != binding.window || d.remaining != e.remaining || d.nextSlot.count() != e.waitMs)
            return fail(
                QStringLiteral("request %1 decided at %2 us differs from the model\n  state before: %3")
                    .arg(m_requests)
                    .arg(now)
                    .arg(before));
        if (!d.allowed) {
            // Retry-After is honest, and no longer than it needs to be, by the model in the same state.
            const qint64 slotUs = now + d.nextSlot.count() * 1000;
            const qint64 retryAfter = d.retryAfterSeconds();
            if (!m_model.admits(slotUs))
                return fail(
                    QStringLiteral("request %1: the model refuses at now + nextSlot").arg(m_requests));
            if (m_model.admits(slotUs - 1000))
                return fail(
                    QStringLiteral("request %1: the model admits at now + nextSlot - 1 ms").arg(m_requests));
            if (!m_model.admits(now + retryAfter * 1'000'000))
                return fail(QStringLiteral("request %1: the model refuses after Retry-After %2 s")
                                .arg(m_requests)
                                .arg(retryAfter));
            if (retryAfter > 1 && m_model.admits(now + (retryAfter - 1) * 1'000'000))
                return fail(QStringLiteral("request %1: the model admits a second before Retry-After %2 s")
                                .arg(m_requests)
                                .arg(retryAfter));
        }
        return {};
    }

    // The mismatch, with what reproduces it: every admission (refusals change nothing) and the
    // last decisions.
    QString fail(const QString &what) const
    {
        return QStringLiteral("%1\n  admitted at (us): %2\n  last decisions:\n    %3")
            .arg(what, m_admittedAt.join(u' '),
                m_trace.mid(std::max<qsizetype>(0, m_trace.size() - 40)).join(QStringLiteral("\n    ")));
    }

    RateLimiter m_limiter;
    StackModel m_model;
    QList<RateLimit> m_limits;
    QString m_client;
    std::vector<RateLimitDecision> m_last;
    qint64 m_lastReceivedUs = 0;
    int m_requests = 0;
    int m_admitted = 0;
    QStringList m_trace;
    QStringList m_admittedAt;
    std::vector<std::array<int, 2>> m_bindings = std::vector<std::array<int, 2>>(size_t(m_limits.size()));
};

// The fixed seed of the arrival sequences; CACHEDASH_MODEL_SEED replaces it.
quint32 baseSeed()
{
    bool ok = false;
    const quint32 seed = qEnvironmentVariable("CACHEDASH_MODEL_SEED").toUInt(&ok);
    return ok ? seed : 20240611u;
}

} // namespace

// The limiter against a real Redis, request by request, against a reference model of each
// algorithm written from the definitions in the scripts' headers: admissions, the binding limit,
// remaining, and the next slot or Retry-After, for arrival sequences that mix bursts, trickles,
// pauses longer than a window and arrivals right at the moment a slot frees.
class tst_RateLimitModel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();

    void agreesWithTheModel_data();
    void agreesWithTheModel();
    void aFloodAdmitsExactlyTheLimit_data();
    void aFloodAdmitsExactlyTheLimit();

private:
    static RateLimitPolicy policyOf(const QString &algorithm, const QString &limits);
    qint64 scriptCalls() const { return m_server.commandCalls("evalsha") + m_server.commandCalls("eval"); }

    TestRedisServer m_server;
    std::unique_ptr<RedisRouter> m_redis;
};

void tst_RateLimitModel::initTestCase()
{
    QVERIFY2(m_server.start(), qPrintable(m_server.errorString()));
    qInfo("arrival sequences from seed %u (CACHEDASH_MODEL_SEED to change it)", baseSeed());
}

void tst_RateLimitModel::init()
{
    QCOMPARE(m_server.command({"FLUSHALL"}), QByteArray("OK"));
    m_redis = std::make_unique<RedisRouter>(RedisUrl::parse(m_server.url()).value());
    m_redis->open();
    QVERIFY(QCoro::waitFor(m_redis->waitForReady(5s)));
}

RateLimitPolicy tst_RateLimitModel::policyOf(const QString &algorithm, const QString &limits)
{
    RateLimitPolicy policy;
    policy.algorithm = Cachedash::algorithmFromName(algorithm).value();
    QString error;
    policy.limits = RateLimit::parseList(limits, &error).value();
    return policy;
}

void tst_RateLimitModel::agreesWithTheModel_data()
{
    QTest::addColumn<QString>("algorithm");
    QTest::addColumn<QString>("limits");
    QTest::addColumn<int>("budgetMs"); // how long the arrivals go on
    for (RateAlgorithm a :
        {RateAlgorithm::SlidingLog, RateAlgorithm::Gcra, RateAlgorithm::SlidingWindowCounter}) {
        const QString name = Cachedash::algorithmName(a);
        QTest::addRow("%s 3/1s", qPrintable(name)) << name << QStringLiteral("3/1s") << 2000;
        // 4/2s rather than 5/2s: a client held at 3/1s makes it bind within a second under GCRA
        // too, where 5/2s would take some four seconds.
        QTest::addRow("%s 3/1s + 4/2s", qPrintable(name)) << name << QStringLiteral("3/1s, 4/2s") << 3000;
    }
}

void tst_RateLimitModel::agreesWithTheModel()
{
    QFETCH(QString, algorithm);
    QFETCH(QString, limits);
    QFETCH(int, budgetMs);
    const quint32 seed = baseSeed() ^ quint32(qHash(QByteArray(QTest::currentDataTag())));
    qInfo("seed %u", seed);
    QRandomGenerator random(seed);
    const RateLimitPolicy policy = policyOf(algorithm, limits);
    // A client of its own per sequence.
    const QString client = QStringLiteral("198.51.100.%1").arg(seed % 250 + 1);
    Sequence run(*m_redis, policy, client);
    qint64 longestMs = 0;
    int fewest = RateLimit::MaxLimit;
    for (const RateLimit &l : policy.limits) {
        longestMs = std::max<qint64>(longestMs, l.windowMs().count());
        fewest = std::min(fewest, l.limit);
    }
    const bool counter = policy.algorithm == RateAlgorithm::SlidingWindowCounter;

    // Every sequence has each kind of step at least once, in an order of its own, among random
    // ones that go on until the budget is spent. A stacked sequence also chases its limits.
    enum class Step { Burst, Trickle, Edge, Pause, Chase, Retry };
    QList<Step> due{Step::Burst, Step::Trickle, Step::Edge, Step::Pause};
    if (policy.limits.size() > 1)
        due << Step::Chase;
    std::shuffle(due.begin(), due.end(), random);

    const qint64 startUs = monotonicUs();
    const qint64 endUs = startUs + budgetMs * 1000;
    bool paused = false;
    int realRetries = 0;
    int edges = 0;
    int edgesHit = 0; // with decisions in the millisecond before the edge and in the one after
    QStringList steps;

    // Checks around the moment `edgeUs` (Redis clock) from a few ms before it to a few after, one
    // after the other, each waiting for its answer: the decisions fall on both sides of it, most
    // often within the same millisecond.
    const auto sweep = [&](qint64 edgeUs, int perTurn) {
        bool hit = false;
        const qint64 fromUs = edgeUs - 3000 - qint64(random.bounded(5000));
        const qint64 toUs = edgeUs + 1000 + qint64(random.bounded(2000));
        const QString problem = run.sweep(edgeUs, fromUs, toUs, perTurn, &hit);
        ++edges;
        edgesHit += hit ? 1 : 0;
        return problem;
    };

    while (!due.isEmpty() || monotonicUs() < endUs) {
        const qint64 leftMs = (endUs - monotonicUs()) / 1000;
        const bool lastRefused = !run.last().empty() && !run.last().back().allowed;
        Step step = Step::Burst;
        // A step that is due must do what it stands for, however long it takes.
        bool mandatory = false;
        if (!due.isEmpty() && (random.bounded(3) != 0 || leftMs <= 0)) {
            step = due.takeFirst();
            mandatory = true;
        } else {
            const int pick = int(random.bounded(100));
            step = pick < 35 ? Step::Burst : pick < 60 ? Step::Trickle : pick < 85 ? Step::Edge : Step::Retry;
            if (step == Step::Retry
                && (!lastRefused || realRetries >= 2 || run.last().back().nextSlot > 1200ms))
                step = Step::Burst;
        }
        switch (step) {
        case Step::Burst: {
            // Checks in one turn: one script call decides them, at one moment.
            const int n = mandatory ? fewest + 1 + int(random.bounded(4)) : 2 + int(random.bounded(6));
            steps << QStringLiteral("burst %1").arg(n);
            const QString problem = run.ask(n, QStringLiteral("burst"));
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            break;
        }
        case Step::Trickle: {
            // Single checks some tens of milliseconds apart.
            const int n = 2 + int(random.bounded(4));
            const int gapMs = 20 + int(random.bounded(230));
            steps << QStringLiteral("trickle %1 every %2 ms").arg(n).arg(gapMs);
            for (int i = 0; i < n; ++i) {
                if (i > 0)
                    runEventsUntil(monotonicUs() + gapMs * 1000);
                const QString problem = run.ask(1, QStringLiteral("trickle"));
                QVERIFY2(problem.isEmpty(), qPrintable(problem));
            }
            break;
        }
        case Step::Pause: {
            // Longer than every window: everything is forgotten.
            paused = true;
            runEventsUntil(monotonicUs() + (longestMs + 20 + random.bounded(300)) * 1000);
            const int n = 1 + int(random.bounded(5));
            steps << QStringLiteral("pause, burst %1").arg(n);
            const QString problem = run.ask(n, QStringLiteral("after a pause"));
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            break;
        }
        case Step::Retry: {
            // The real limiter's Retry-After: waiting nextSlot (and a little) is enough.
            ++realRetries;
            const RateLimitDecision refused = run.last().back();
            runEventsUntil(run.lastReceivedUs() + refused.nextSlot.count() * 1000 + 3000);
            steps << QStringLiteral("retry after %1 ms").arg(refused.nextSlot.count());
            const QString problem = run.ask(1, QStringLiteral("retry"));
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            QVERIFY2(run.last().front().allowed,
                qPrintable(QStringLiteral("refused after waiting the %1 ms it was told")
                               .arg(refused.nextSlot.count())));
            break;
        }
        case Step::Edge: {
            // The moment the model says the client is admitted again, or a slot frees, or (for
            // the counter) a fixed window begins.
            qint64 nowUs = systemUs();
            qint64 edgeUs = -1;
            QString what;
            if (counter && random.bounded(3) == 0) {
                const qint64 w
                    = policy.limits[qsizetype(random.bounded(int(policy.limits.size())))].windowMs().count();
                edgeUs = (nowUs / 1000 / w + 1) * w * 1000;
                what = QStringLiteral("window start");
            } else if (!run.model().admits(nowUs)) {
                edgeUs = nowUs + run.model().untilAdmitsUs(nowUs);
                what = QStringLiteral("admitted again");
            } else if (const qint64 d = run.model().untilASlotFreesUs(nowUs); d >= 0) {
                edgeUs = nowUs + d;
                what = QStringLiteral("slot frees");
            }
            if (edgeUs < 0 || (!mandatory && (edgeUs - nowUs) / 1000 > leftMs + 200)) {
                // Nothing to wait for (every limit admits all it can), or too far: fill the limits.
                steps << QStringLiteral("burst %1 (no edge)").arg(fewest + 1);
                const QString problem = run.ask(fewest + 1, QStringLiteral("burst"));
                QVERIFY2(problem.isEmpty(), qPrintable(problem));
                if (!mandatory)
                    break;
                nowUs = systemUs();
                edgeUs = nowUs + run.model().untilAdmitsUs(nowUs);
                what = QStringLiteral("admitted again");
            }
            const int perTurn = 1 + int(random.bounded(2));
            steps << QStringLiteral("edge (%1) in %2 ms, %3 a turn")
                         .arg(what)
                         .arg((edgeUs - nowUs) / 1000)
                         .arg(perTurn);
            const QString problem = sweep(edgeUs, perTurn);
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            break;
        }
        case Step::Chase: {
            // A client that keeps at its limits: asks again the moment it is admitted again, for
            // a while. The longer windows fill up and come to bind.
            const qint64 untilUs = systemUs() + (1200 + qint64(random.bounded(400))) * 1000;
            steps << QStringLiteral("chase");
            QString problem = run.ask(fewest, QStringLiteral("chase"));
            while (problem.isEmpty() && systemUs() < untilUs) {
                const qint64 nowUs = systemUs();
                if (run.model().admits(nowUs)) {
                    problem = run.ask(1, QStringLiteral("chase"));
                    continue;
                }
                const qint64 edgeUs = nowUs + run.model().untilAdmitsUs(nowUs);
                if (edgeUs > untilUs)
                    break;
                problem = sweep(edgeUs, 1);
            }
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            break;
        }
        }
    }
    const int refused = run.requests() - run.admitted();
    qInfo().noquote() << run.requests() << "requests," << run.admitted() << "admitted," << refused
                      << "refused; binding limit (admitted+refused):" << run.bindings() << ";" << edgesHit
                      << "of" << edges << "edges hit to the ms, in" << (monotonicUs() - startUs) / 1000
                      << "ms:" << steps.join(QStringLiteral(", "));
    // The sequence did what it is for.
    QVERIFY(paused);
    QVERIFY(edges > 0);
    QVERIFY(run.admitted() > 0);
    QVERIFY(refused > 0);
    QVERIFY(run.everyLimitBound());
}

void tst_RateLimitModel::aFloodAdmitsExactlyTheLimit_data()
{
    QTest::addColumn<QString>("algorithm");
    QTest::addColumn<QString>("limits");
    QTest::addColumn<int>("admitted");
    for (RateAlgorithm a :
        {RateAlgorithm::SlidingLog, RateAlgorithm::Gcra, RateAlgorithm::SlidingWindowCounter}) {
        const QString name = Cachedash::algorithmName(a);
        QTest::addRow("%s 7/10s", qPrintable(name)) << name << QStringLiteral("7/10s") << 7;
        QTest::addRow("%s 7/10s + 5/1m", qPrintable(name)) << name << QStringLiteral("7/10s, 5/1m") << 5;
    }
}

void tst_RateLimitModel::aFloodAdmitsExactlyTheLimit()
{
    QFETCH(QString, algorithm);
    QFETCH(QString, limits);
    QFETCH(int, admitted);
    const RateLimitPolicy policy = policyOf(algorithm, limits);
    RateLimiter limiter(*m_redis, "rate:", policy);
    StackModel model(policy.algorithm, policy.limits);
    const QString client
        = QStringLiteral("203.0.113.%1").arg(int(policy.algorithm) * 2 + int(policy.limits.size()));
    if (policy.algorithm == RateAlgorithm::SlidingWindowCounter) {
        // The counter weighs the window before: a flood across the start of a window would be
        // admitted some more, as the algorithm means. Flood within one window of every limit
        // (10 s windows start at the minute too).
        const qint64 intoWindowMs = systemUs() / 1000 % 10'000;
        if (intoWindowMs > 9'000) {
            const qint64 nextUs = (systemUs() / 10'000'000 + 1) * 10'000'000;
            QVERIFY(waitUntil([&] { return systemUs() >= nextUs; }, 2'000));
        }
    }
    QCOMPARE(m_server.command({"CONFIG", "RESETSTAT"}), QByteArray("OK"));

    const int flood = 200;
    std::vector<QCoro::Task<RateLimitDecision>> pending;
    for (int i = 0; i < flood; ++i)
        pending.push_back(limiter.check(client));
    std::vector<RateLimitDecision> decisions;
    for (QCoro::Task<RateLimitDecision> &task : pending)
        decisions.push_back(QCoro::waitFor(task));
    // Sixteen to a script call.
    QCOMPARE(scriptCalls(), (flood + RateLimiter::MaxBatch - 1) / RateLimiter::MaxBatch);

    int allowed = 0;
    for (int i = 0; i < flood; ++i) {
        const RateLimitDecision &d = decisions[size_t(i)];
        QVERIFY(!d.failed);
        const Expected e = model.decide(d.decidedAtUs);
        QVERIFY(e.valid);
        const RateLimit &binding = policy.limits[e.binding];
        const QString real = decisionText(d.allowed, {d.limit, d.window}, d.remaining, d.nextSlot.count());
        const QString expected = decisionText(e.admitted, binding, e.remaining, e.waitMs);
        QVERIFY2(real == expected,
            qPrintable(QStringLiteral("request %1 at %2 us: real %3, model %4")
                           .arg(i + 1)
                           .arg(d.decidedAtUs)
                           .arg(real, expected)));
        allowed += d.allowed ? 1 : 0;
        // The first ones are admitted, then none.
        QCOMPARE(d.allowed, i < admitted);
    }
    QCOMPARE(allowed, admitted);
    QCOMPARE(limiter.counters().allowed, quint64(admitted));
    QCOMPARE(limiter.counters().limited, quint64(flood - admitted));
}

QTEST_GUILESS_MAIN(tst_RateLimitModel)
#include "tst_ratelimitmodel.moc"
