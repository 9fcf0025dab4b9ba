// SPDX-License-Identifier: GPL-3.0-or-later
#include "common/completion.h"

#include <QStringList>
#include <QTest>

#include <qcoro/qcorotask.h>

#include <memory>

using Cachedash::detail::Completion;
using Cachedash::detail::CompletionAwaiter;

namespace {

// An owner as the layers above have them: something shared that holds the completion, and says
// when it goes.
struct Owner
{
    explicit Owner(bool *destroyed = nullptr)
        : destroyed(destroyed)
    { }
    ~Owner()
    {
        if (destroyed)
            *destroyed = true;
    }
    Completion<int> done;
    bool *destroyed;
};

using Awaiter = CompletionAwaiter<std::shared_ptr<Owner>, int>;

// Waits for the owner's result and writes "name=value" to the log. Parameters by value: a
// coroutine must not hold references into its caller's frame.
QCoro::Task<> waitAndLog(std::shared_ptr<Owner> owner, QStringList *log, QString name)
{
    Awaiter awaiter(owner, owner->done);
    owner.reset(); // only the awaiter keeps it alive from here on
    const int value = co_await awaiter;
    log->append(name + QLatin1Char('=') + QString::number(value));
}

// Records where the shared result lives.
QCoro::Task<> waitAndTakeAddress(std::shared_ptr<Owner> owner, const int **address)
{
    Awaiter awaiter(owner, owner->done);
    int &value = co_await awaiter;
    *address = &value;
}

// A waiter that, once resumed, drops the last outside reference to the owner.
QCoro::Task<> waitAndDrop(std::shared_ptr<Owner> *holder, QStringList *log)
{
    Awaiter awaiter(*holder, (*holder)->done);
    const int value = co_await awaiter;
    holder->reset();
    log->append(QStringLiteral("dropper=") + QString::number(value));
}

// A waiter that, once resumed, starts new work on a second completion (which suspends it
// again), and awaits the first one again (done: no suspension).
QCoro::Task<> waitAndStartMore(std::shared_ptr<Owner> first, std::shared_ptr<Owner> second, QStringList *log)
{
    Awaiter firstWait(first, first->done);
    const int a = co_await firstWait;
    log->append(QStringLiteral("starter=") + QString::number(a));
    Awaiter again(first, first->done);
    const int b = co_await again;
    log->append(QStringLiteral("again=") + QString::number(b));
    Awaiter secondWait(second, second->done);
    const int c = co_await secondWait;
    log->append(QStringLiteral("second=") + QString::number(c));
}

} // namespace

class tst_Completion : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void resumesEveryWaiterInOrder_data();
    void resumesEveryWaiterInOrder();
    void waitersShareOneResult();
    void laterCompletionsAreIgnored();
    void waiterStartsNewWorkWhileResumed();
    void waiterDropsTheOwnerWhileResumed();
    void awaitingADoneCompletionDoesNotSuspend();
};

void tst_Completion::resumesEveryWaiterInOrder_data()
{
    QTest::addColumn<int>("waiters");
    // One waiter takes the allocation-free slot; the others queue behind it.
    QTest::newRow("lone waiter") << 1;
    QTest::newRow("two") << 2;
    QTest::newRow("five") << 5;
}

void tst_Completion::resumesEveryWaiterInOrder()
{
    QFETCH(int, waiters);
    auto owner = std::make_shared<Owner>();
    QStringList log;
    QStringList expected;
    for (int i = 0; i < waiters; ++i) {
        waitAndLog(owner, &log, QString::number(i));
        expected << QString::number(i) + QStringLiteral("=42");
    }
    QVERIFY(log.isEmpty());
    QVERIFY(!owner->done.isDone());

    QVERIFY(owner->done.complete(42));
    // Every waiter ran before complete() returned, in the order it came, each exactly once.
    QCOMPARE(log, expected);
    QVERIFY(owner->done.isDone());
    QCOMPARE(owner->done.result(), 42);
    // The awaiters are gone with their coroutines: only this test holds the owner now.
    QCOMPARE(owner.use_count(), 1);
}

void tst_Completion::waitersShareOneResult()
{
    auto owner = std::make_shared<Owner>();
    const int *first = nullptr;
    const int *second = nullptr;
    waitAndTakeAddress(owner, &first);
    waitAndTakeAddress(owner, &second);
    owner->done.complete(7);
    QVERIFY(first);
    QCOMPARE(first, &owner->done.result());
    QCOMPARE(second, first);
}

void tst_Completion::laterCompletionsAreIgnored()
{
    auto owner = std::make_shared<Owner>();
    QStringList log;
    waitAndLog(owner, &log, QStringLiteral("a"));
    QVERIFY(owner->done.complete(1));
    // A late reply after a timeout, say: refused, the result stays, nobody is resumed twice.
    QVERIFY(!owner->done.complete(2));
    QVERIFY(!owner->done.complete(3));
    QCOMPARE(owner->done.result(), 1);
    QCOMPARE(log, QStringList{QStringLiteral("a=1")});
}

void tst_Completion::waiterStartsNewWorkWhileResumed()
{
    auto first = std::make_shared<Owner>();
    auto second = std::make_shared<Owner>();
    QStringList log;
    waitAndLog(first, &log, QStringLiteral("before"));
    waitAndStartMore(first, second, &log);
    waitAndLog(first, &log, QStringLiteral("after"));

    QVERIFY(first->done.complete(1));
    // The waiter that moved on to new work did not keep the ones behind it from resuming.
    QCOMPARE(log,
        (QStringList{QStringLiteral("before=1"), QStringLiteral("starter=1"), QStringLiteral("again=1"),
            QStringLiteral("after=1")}));

    QVERIFY(second->done.complete(2));
    QCOMPARE(log.size(), 5);
    QCOMPARE(log.last(), QStringLiteral("second=2"));
    QCOMPARE(first.use_count(), 1);
    QCOMPARE(second.use_count(), 1);
}

void tst_Completion::waiterDropsTheOwnerWhileResumed()
{
    bool destroyed = false;
    auto holder = std::make_shared<Owner>(&destroyed);
    Owner *owner = holder.get();
    QStringList log;
    waitAndDrop(&holder, &log);
    waitAndLog(holder, &log, QStringLiteral("a"));
    waitAndLog(holder, &log, QStringLiteral("b"));

    // The first waiter drops the outside reference; each one's awaiter goes with its coroutine, so
    // the owner, and the completion inside it, die during complete(), after the last waiter ran.
    QVERIFY(owner->done.complete(5));
    QVERIFY(!holder);
    QVERIFY(destroyed);
    QCOMPARE(log, (QStringList{QStringLiteral("dropper=5"), QStringLiteral("a=5"), QStringLiteral("b=5")}));
}

void tst_Completion::awaitingADoneCompletionDoesNotSuspend()
{
    auto owner = std::make_shared<Owner>();
    QVERIFY(owner->done.complete(9));
    QStringList log;
    QCoro::Task<> waiting = waitAndLog(owner, &log, QStringLiteral("late"));
    // Ran through at once, with no event loop turn.
    QVERIFY(waiting.isReady());
    QCOMPARE(log, QStringList{QStringLiteral("late=9")});

    Awaiter awaiter(owner, owner->done);
    QVERIFY(awaiter.await_ready());
    QCOMPARE(awaiter.await_resume(), 9);
}

QTEST_GUILESS_MAIN(tst_Completion)
#include "tst_completion.moc"
