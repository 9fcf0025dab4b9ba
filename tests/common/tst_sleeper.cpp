// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/sleeper.h"

#include <QElapsedTimer>
#include <QTest>

#include <qcoro/qcorotask.h>

#include <chrono>
#include <memory>

using namespace std::chrono;
using namespace std::chrono_literals;
using Cachedash::Sleeper;

namespace {

QCoro::Task<bool> sleepOn(Sleeper *sleeper, milliseconds duration)
{
    Sleeper::Wait wait = sleeper->sleep(duration);
    const bool elapsed = co_await wait;
    co_return elapsed;
}

// Sleeps and notes, once resumed, its name: the order in which waits end.
QCoro::Task<> sleepAndLog(Sleeper *sleeper, milliseconds duration, QStringList *log, QString name)
{
    Sleeper::Wait wait = sleeper->sleep(duration);
    const bool elapsed = co_await wait;
    log->append(name + (elapsed ? QStringLiteral(":elapsed") : QStringLiteral(":cancelled")));
}

} // namespace

class tst_Sleeper : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void elapsesAfterItsDurationNotBefore_data();
    void elapsesAfterItsDurationNotBefore();
    void shorterWaitsEndFirst();
    void cancelAllResumesEveryWaiter();
    void waitAfterCancelAllEndsAtOnce();
    void destructorCancels();
};

void tst_Sleeper::elapsesAfterItsDurationNotBefore_data()
{
    QTest::addColumn<int>("ms");
    QTest::newRow("0 ms") << 0;
    QTest::newRow("15 ms") << 15;
    QTest::newRow("60 ms") << 60;
    QTest::newRow("150 ms") << 150;
}

void tst_Sleeper::elapsesAfterItsDurationNotBefore()
{
    QFETCH(int, ms);
    Sleeper sleeper;
    QElapsedTimer clock;
    clock.start();
    QCoro::Task<bool> sleeping = sleepOn(&sleeper, milliseconds(ms));
    QVERIFY(!sleeping.isReady());
    QCOMPARE(sleeper.waiting(), 1);
    const bool elapsed = QCoro::waitFor(sleeping);
    const qint64 took = clock.nsecsElapsed();
    QVERIFY(elapsed);
    // A precise timer: never early, which a coarse one is by up to 5 % of the duration.
    QVERIFY2(took >= qint64(ms) * 1'000'000, qPrintable(QStringLiteral("took %1 ns").arg(took)));
    QCOMPARE(sleeper.waiting(), 0);
    QVERIFY(!sleeper.isCancelled());
}

void tst_Sleeper::shorterWaitsEndFirst()
{
    Sleeper sleeper;
    QStringList log;
    sleepAndLog(&sleeper, 80ms, &log, QStringLiteral("long"));
    sleepAndLog(&sleeper, 10ms, &log, QStringLiteral("short"));
    sleepAndLog(&sleeper, 40ms, &log, QStringLiteral("middle"));
    QCOMPARE(sleeper.waiting(), 3);
    QTRY_COMPARE(sleeper.waiting(), 0);
    QCOMPARE(log,
        (QStringList{QStringLiteral("short:elapsed"), QStringLiteral("middle:elapsed"),
            QStringLiteral("long:elapsed")}));
}

void tst_Sleeper::cancelAllResumesEveryWaiter()
{
    Sleeper sleeper;
    QStringList log;
    sleepAndLog(&sleeper, 10s, &log, QStringLiteral("a"));
    sleepAndLog(&sleeper, 20s, &log, QStringLiteral("b"));
    QCoro::Task<bool> third = sleepOn(&sleeper, 30s);
    QCOMPARE(sleeper.waiting(), 3);

    sleeper.cancelAll();
    // Every waiter resumed inside cancelAll(), with false, in the order they began.
    QCOMPARE(log, (QStringList{QStringLiteral("a:cancelled"), QStringLiteral("b:cancelled")}));
    QVERIFY(third.isReady());
    QCOMPARE(QCoro::waitFor(third), false);
    QCOMPARE(sleeper.waiting(), 0);
    QVERIFY(sleeper.isCancelled());

    // A second call has nothing left to do.
    sleeper.cancelAll();
    QCOMPARE(log.size(), 2);
}

void tst_Sleeper::waitAfterCancelAllEndsAtOnce()
{
    Sleeper sleeper;
    sleeper.cancelAll();
    QCoro::Task<bool> late = sleepOn(&sleeper, 10s);
    QVERIFY(late.isReady()); // no timer, no turn of the event loop
    QCOMPARE(QCoro::waitFor(late), false);
    QCOMPARE(sleeper.waiting(), 0);
}

void tst_Sleeper::destructorCancels()
{
    auto sleeper = std::make_unique<Sleeper>();
    QStringList log;
    sleepAndLog(sleeper.get(), 10s, &log, QStringLiteral("a"));
    QVERIFY(log.isEmpty());
    sleeper.reset();
    // Nothing stays suspended on a timer that is gone.
    QCOMPARE(log, QStringList{QStringLiteral("a:cancelled")});
}

QTEST_GUILESS_MAIN(tst_Sleeper)
#include "tst_sleeper.moc"
