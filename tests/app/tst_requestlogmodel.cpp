// SPDX-License-Identifier: GPL-3.0-or-later
#include "app/latencystats.h"
#include "app/requestfeed.h"
#include "app/requestlogmodel.h"

#include <QTest>

#include <atomic>
#include <thread>

using namespace Cachedash;

namespace {
RequestRecord record(quint64 id, int status = 0, Outcome outcome = Outcome::None)
{
    RequestRecord r;
    r.id = id;
    r.startedMsSinceEpoch = 1'700'000'000'000 + qint64(id);
    r.client = QStringLiteral("127.0.0.1");
    r.method = "GET";
    r.path = QStringLiteral("/reports/r%1").arg(id);
    r.status = status;
    r.outcome = outcome;
    r.latencyMs = double(id % 100);
    return r;
}
} // namespace

class tst_RequestLogModel : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void newestFirstAndUpdatedInPlace();
    void boundedAfter20000Events();
    void feedKeepsExactTotalsUnderFlood();
    void feedHandsOverAcrossThreads();
    void percentiles();
};

void tst_RequestLogModel::newestFirstAndUpdatedInPlace()
{
    RequestLogModel model(100);
    model.apply({{false, record(1)}, {false, record(2)}});
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.index(0, RequestLogModel::Path).data().toString(), QStringLiteral("/reports/r2"));
    QCOMPARE(model.index(1, 0).data(RequestLogModel::InFlightRole).toBool(), true);
    QCOMPARE(model.index(1, RequestLogModel::Outcome).data().toString(), QStringLiteral("computing…"));
    // Request 1 finishes: its row changes in place, no new row.
    model.apply({{true, record(1, 200, Outcome::Miss)}});
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.index(1, RequestLogModel::Outcome).data().toString(), QStringLiteral("MISS"));
    QCOMPARE(model.index(1, RequestLogModel::Status).data().toInt(), 200);
    // Started and finished in the same batch: one row.
    model.apply({{false, record(3)}, {true, record(3, 429, Outcome::Limited)}});
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(model.index(0, 0).data(RequestLogModel::InFlightRole).toBool(), false);
    QCOMPARE(model.index(0, 0).data(RequestLogModel::OutcomeRole).value<Outcome>(), Outcome::Limited);
}

void tst_RequestLogModel::boundedAfter20000Events()
{
    RequestLogModel model(10000);
    for (quint64 batch = 0; batch < 20; ++batch) {
        QList<RequestFeed::Event> events;
        for (quint64 i = 0; i < 1000; ++i) {
            const quint64 id = batch * 1000 + i + 1;
            events.append({true, record(id, 200, Outcome::Hit)});
        }
        model.apply(events);
    }
    QCOMPARE(model.rowCount(), 10000);
    QCOMPARE(model.index(0, RequestLogModel::Path).data().toString(), QStringLiteral("/reports/r20000"));
    QCOMPARE(model.index(9999, RequestLogModel::Path).data().toString(), QStringLiteral("/reports/r10001"));
    // One batch larger than the whole log keeps its newest rows.
    QList<RequestFeed::Event> huge;
    for (quint64 id = 30001; id <= 45000; ++id)
        huge.append({true, record(id, 200, Outcome::Miss)});
    model.apply(huge);
    QCOMPARE(model.rowCount(), 10000);
    QCOMPARE(model.index(0, RequestLogModel::Path).data().toString(), QStringLiteral("/reports/r45000"));
}

void tst_RequestLogModel::feedKeepsExactTotalsUnderFlood()
{
    RequestFeed feed(1000);
    for (quint64 id = 1; id <= 5000; ++id)
        feed.finished(record(id, id % 5 ? 200 : 429, id % 5 ? Outcome::Hit : Outcome::Limited));
    const QList<RequestFeed::Event> pending = feed.take();
    QVERIFY(pending.size() <= 1000);
    QCOMPARE(pending.last().record.id, 5000u);
    QVERIFY(feed.dropped() > 0);
    const RequestFeed::Totals totals = feed.totals();
    QCOMPARE(totals.requests, 5000u);
    QCOMPARE(totals.hits, 4000u);
    QCOMPARE(totals.limited, 1000u);
    QVERIFY(feed.take().isEmpty());
}

// The window's use of the feed, with a real second thread (run under ThreadSanitizer by
// `scripts/test.sh --tsan`): the service thread appends while the window's thread takes batches and
// applies them to the log. Nothing is lost but what the bound drops, and order is kept.
void tst_RequestLogModel::feedHandsOverAcrossThreads()
{
    constexpr quint64 Requests = 20000;
    RequestFeed feed(1000);
    RequestLogModel model(500);
    std::atomic<bool> done{false};
    std::thread service([&] {
        for (quint64 id = 1; id <= Requests; ++id) {
            feed.started(record(id));
            feed.finished(record(id, 200, id % 2 ? Outcome::Hit : Outcome::Miss));
        }
        done = true;
    });
    quint64 taken = 0;
    quint64 lastId = 0;
    bool ordered = true;
    for (bool last = false; !last;) {
        last = done.load();
        const QList<RequestFeed::Event> batch = feed.take();
        for (const RequestFeed::Event &event : batch) {
            ordered = ordered && event.record.id >= lastId;
            lastId = event.record.id;
        }
        taken += quint64(batch.size());
        model.apply(batch);
        if (batch.isEmpty())
            std::this_thread::yield();
    }
    service.join();
    QVERIFY(ordered);
    QCOMPARE(lastId, Requests);
    // Every event was either taken or counted as dropped; the totals count every request.
    QCOMPARE(taken + feed.dropped(), 2 * Requests);
    const RequestFeed::Totals totals = feed.totals();
    QCOMPARE(totals.requests, Requests);
    QCOMPARE(totals.hits, Requests / 2);
    QCOMPARE(totals.misses, Requests / 2);
    QCOMPARE(model.rowCount(), 500);
}

void tst_RequestLogModel::percentiles()
{
    LatencyStats stats(1000);
    QCOMPARE(stats.percentile(50), 0.0);
    for (int i = 1; i <= 100; ++i)
        stats.add(i);
    QCOMPARE(stats.percentile(50), 50.0);
    QCOMPARE(stats.percentile(99), 99.0);
    QCOMPARE(stats.percentile(100), 100.0);
}

QTEST_GUILESS_MAIN(tst_RequestLogModel)
#include "tst_requestlogmodel.moc"
