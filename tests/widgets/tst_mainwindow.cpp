// SPDX-License-Identifier: GPL-3.0-or-later
// The window on the offscreen platform, with the real service behind it on its own thread.
#include "app/requestlogmodel.h"
#include "app/servicehost.h"
#include "testlib/testhttp.h"
#include "testlib/testredisserver.h"
#include "widgets/comparisondialog.h"
#include "widgets/limiterwindowwidget.h"
#include "widgets/logfilterproxy.h"
#include "widgets/mainwindow.h"

#include <QAbstractItemView>
#include <QApplication>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QElapsedTimer>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSet>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTest>
#include <QTimer>

using namespace std::chrono_literals;
using namespace Cachedash;
using Cachedash::Test::TestHttp;
using Cachedash::Test::TestRedisServer;

class tst_MainWindow : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void fetchShowsMissThenHit();
    void refreshEmptiesTheTtl();
    void ttlCountsDown();
    void burstShowsFiveOkAndTwoLimited();
    void outsideClientsAppearInTheLog();
    void filterByOutcome();
    void settingsDialogChangesTheRunningService();
    void stampedeScenarioComputesOnce();
    void refreshDuringFillScenario();
    void redisOutageScenarioBypasses();
    void limiterPanelDrawsALanePerLimit();
    void compareAlgorithmsScenario();
    void everyControlIsNamedAndTabbable();

private:
    // Rows of the log, oldest first, once `count` of them have finished.
    QList<QByteArray> outcomes(int count);
    int finishedRows() const;

    TestRedisServer m_redis;
    std::unique_ptr<ServiceHost> m_host;
    std::unique_ptr<MainWindow> m_window;
};

void tst_MainWindow::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY2(m_redis.start(), qPrintable(m_redis.errorString()));
}

void tst_MainWindow::init()
{
    QCOMPARE(m_redis.command({"FLUSHALL"}), QByteArray("OK"));
    ServiceOptions o;
    o.redisUrl = RedisUrl::parse(m_redis.url()).value();
    o.redisUrlGiven = true;
    o.port = 0;
    o.reportDelay = 300ms;
    m_host = std::make_unique<ServiceHost>(o);
    QString error;
    QVERIFY2(m_host->start(&error), qPrintable(error));
    m_window = std::make_unique<MainWindow>(*m_host);
    m_window->setRegion(QStringLiteral("emea"));
    m_window->show();
}

void tst_MainWindow::cleanup()
{
    m_window.reset();
    m_host.reset();
}

int tst_MainWindow::finishedRows() const
{
    const RequestLogModel &log = m_window->logModel();
    int n = 0;
    for (int row = 0; row < log.rowCount(); ++row)
        n += !log.index(row, 0).data(RequestLogModel::InFlightRole).toBool();
    return n;
}

QList<QByteArray> tst_MainWindow::outcomes(int count)
{
    const RequestLogModel &log = m_window->logModel();
    [&] { QTRY_COMPARE_WITH_TIMEOUT(finishedRows(), count, 5000); }();
    QList<QByteArray> result;
    for (int row = log.rowCount() - 1; row >= 0; --row)
        result << outcomeName(log.index(row, 0).data(RequestLogModel::OutcomeRole).value<Outcome>());
    return result;
}

void tst_MainWindow::fetchShowsMissThenHit()
{
    QPushButton *fetch = m_window->findChild<QPushButton *>(QStringLiteral("fetchButton"));
    QVERIFY(fetch);
    QTest::mouseClick(fetch, Qt::LeftButton);
    // While it computes, the row says so.
    QTRY_COMPARE(m_window->logModel().rowCount(), 1);
    QCOMPARE(m_window->logModel().index(0, 0).data(RequestLogModel::InFlightRole).toBool(), true);
    QCOMPARE(outcomes(1), (QList<QByteArray>{"MISS"}));
    QTest::mouseClick(fetch, Qt::LeftButton);
    QCOMPARE(outcomes(2), (QList<QByteArray>{"MISS", "HIT"}));
    QVERIFY(m_window->logModel()
                .index(0, RequestLogModel::Latency)
                .data()
                .toString()
                .endsWith(QStringLiteral(" ms")));
}

void tst_MainWindow::refreshEmptiesTheTtl()
{
    m_window->fetch();
    outcomes(1);
    QTRY_VERIFY(m_window->ttlSecondsLeft() > 28);
    QVERIFY2(m_window->ttlText().contains(QStringLiteral("left of 30 s")), qPrintable(m_window->ttlText()));
    m_window->refresh();
    QTRY_COMPARE(m_window->ttlSecondsLeft(), -1.0);
    QVERIFY2(m_window->ttlText().contains(QStringLiteral("not cached")), qPrintable(m_window->ttlText()));
    // A refresh has an outcome of its own: it invalidated, or there was nothing to invalidate.
    QCOMPARE(outcomes(2).last(), QByteArray("INVALIDATED"));
    m_window->refresh();
    QCOMPARE(outcomes(3).last(), QByteArray("NOT-CACHED"));
    // One filter shows both, and the counters count them.
    m_window->logFilter().setOutcome(Outcome::Invalidated);
    QCOMPARE(m_window->logFilter().rowCount(), 2);
    m_window->logFilter().setOutcome(std::nullopt);
    auto *counters = m_window->findChild<QLabel *>(QStringLiteral("countersLabel"));
    QTRY_VERIFY2(counters->text().contains(QStringLiteral("invalidated <b>1</b> · not cached <b>1</b>")),
        qPrintable(counters->text()));
    m_window->fetch();
    QTRY_VERIFY_WITH_TIMEOUT(m_window->ttlSecondsLeft() > 28, 3000);
}

void tst_MainWindow::ttlCountsDown()
{
    m_window->fetch();
    outcomes(1);
    QTRY_VERIFY(m_window->ttlSecondsLeft() > 0);
    const double before = m_window->ttlSecondsLeft();
    QElapsedTimer clock;
    clock.start();
    // It counts down a whole second...
    QTRY_VERIFY_WITH_TIMEOUT(m_window->ttlSecondsLeft() <= before - 1, 3000);
    const double after = m_window->ttlSecondsLeft();
    const double elapsed = double(clock.elapsed()) / 1000.0;
    // ...at the pace of the clock: neither much slower (it took no more than 0.3 s longer than
    // the second it counted) nor faster (0.8 s at most ahead of the time that passed).
    QVERIFY2(before - after > elapsed - 0.3 && before - after < elapsed + 0.8,
        qPrintable(QStringLiteral("%1 -> %2 in %3 s").arg(before).arg(after).arg(elapsed)));
}

void tst_MainWindow::burstShowsFiveOkAndTwoLimited()
{
    m_window->burst();
    const QList<QByteArray> seen = outcomes(7);
    QCOMPARE(seen, (QList<QByteArray>{"MISS", "HIT", "HIT", "HIT", "HIT", "LIMITED", "LIMITED"}));
    const RequestLogModel &log = m_window->logModel();
    for (int row = 0; row < 2; ++row) {
        QCOMPARE(log.index(row, RequestLogModel::Status).data().toInt(), 429);
        QVERIFY(log.index(row, RequestLogModel::RetryAfter).data().toString().endsWith(QStringLiteral(" s")));
    }
}

void tst_MainWindow::outsideClientsAppearInTheLog()
{
    TestHttp outside{QUrl(m_host->baseUrl())};
    QCOMPARE(outside.get(QStringLiteral("/reports/from-curl")).status, 200);
    outcomes(1);
    QCOMPARE(m_window->logModel().index(0, RequestLogModel::Path).data().toString(),
        QStringLiteral("/reports/from-curl"));
    QCOMPARE(m_window->logModel().index(0, RequestLogModel::Client).data().toString(),
        QStringLiteral("127.0.0.1"));
}

void tst_MainWindow::filterByOutcome()
{
    m_window->burst();
    outcomes(7);
    m_window->logFilter().setOutcome(Outcome::Limited);
    QCOMPARE(m_window->logFilter().rowCount(), 2);
    m_window->logFilter().setOutcome(Outcome::Hit);
    QCOMPARE(m_window->logFilter().rowCount(), 4);
    m_window->logFilter().setOutcome(std::nullopt);
    QCOMPARE(m_window->logFilter().rowCount(), 7);
}

void tst_MainWindow::settingsDialogChangesTheRunningService()
{
    // Fills in the dialog as soon as it is up (editSettings() runs it modally).
    QTimer fillIn;
    fillIn.setInterval(10);
    connect(&fillIn, &QTimer::timeout, this, [&fillIn] {
        QWidget *dialog = QApplication::activeModalWidget();
        if (!dialog)
            return;
        fillIn.stop();
        dialog->findChild<QSpinBox *>(QStringLiteral("delaySpin"))->setValue(100);
        dialog->findChild<QSpinBox *>(QStringLiteral("ttlSpin"))->setValue(5);
        // A limit that does not hold keeps the dialog open, saying why...
        auto *limits = dialog->findChild<QLineEdit *>(QStringLiteral("limitsEdit"));
        limits->setText(QStringLiteral("2 per 10"));
        dialog->findChild<QDialogButtonBox *>()->button(QDialogButtonBox::Ok)->click();
        QVERIFY(dialog->isVisible());
        QVERIFY(dialog->findChild<QLabel *>(QStringLiteral("problemLabel"))->text().contains(u"2 per 10"));
        // ...and one that does is applied.
        limits->setText(QStringLiteral("2/10s, 50/1h"));
        dialog->findChild<QDialogButtonBox *>()->button(QDialogButtonBox::Ok)->click();
    });
    fillIn.start();
    m_window->editSettings();
    QVERIFY2(!fillIn.isActive(), "no settings dialog came up");
    QCOMPARE(m_host->options().rateLimits.limits, (QList<Cachedash::RateLimit>{{2, 10s}, {50, 3600s}}));
    // The running service follows: a limit of 2, and a 5 s TTL.
    m_window->findChild<QSpinBox *>(QStringLiteral("burstSpin"))->setValue(4);
    m_window->burst();
    QCOMPARE(outcomes(4), (QList<QByteArray>{"MISS", "HIT", "LIMITED", "LIMITED"}));
    QTRY_VERIFY(m_window->ttlSecondsLeft() > 0);
    QVERIFY(m_window->ttlSecondsLeft() <= 5);
    // And the next start of the window gets them back.
    QSettings saved;
    QCOMPARE(saved.value(QStringLiteral("service/rate-limit")).toString(), QStringLiteral("2/10s, 50/1h"));
    QCOMPARE(saved.value(QStringLiteral("service/cache-ttl")).toInt(), 5);
    saved.remove(QStringLiteral("service"));
}

void tst_MainWindow::stampedeScenarioComputesOnce()
{
    m_window->runStampede();
    // A refresh, then 20 GETs from 20 loopback addresses.
    const QList<QByteArray> seen = outcomes(21);
    QCOMPARE(seen.count("MISS"), 20);
    QSet<QString> clients;
    const RequestLogModel &log = m_window->logModel();
    for (int row = 0; row < 20; ++row)
        clients.insert(log.index(row, RequestLogModel::Client).data().toString());
    QCOMPARE(clients.size(), 20);
    QVERIFY(clients.contains(QStringLiteral("127.0.0.2")) && clients.contains(QStringLiteral("127.0.0.21")));
    // One computation for all of them: the Redis panel's snapshot says so.
    QTRY_VERIFY(m_window->findChild<QLabel *>(QStringLiteral("countersLabel"))
                    ->text()
                    .contains(QStringLiteral("computations <b>1</b>")));
}

void tst_MainWindow::refreshDuringFillScenario()
{
    m_window->runRefreshDuringFill();
    // refresh, GET (miss), refresh during it, GET again: a miss again, since the first fill's
    // write was discarded.
    const QList<QByteArray> seen = outcomes(4);
    QCOMPARE(seen.count("MISS"), 2);
    QCOMPARE(seen.last(), QByteArray("MISS"));
}

void tst_MainWindow::redisOutageScenarioBypasses()
{
    m_window->runRedisOutage();
    const QList<QByteArray> seen = outcomes(3);
    // Redis is paused for 3 s: the fetches inside the pause are answered by computing directly.
    QCOMPARE(seen.first(), QByteArray("BYPASS"));
    const RequestLogModel &log = m_window->logModel();
    for (int row = 0; row < 3; ++row)
        QCOMPARE(log.index(row, RequestLogModel::Status).data().toInt(), 200);
    m_redis.command({"CLIENT", "UNPAUSE"});
}

void tst_MainWindow::limiterPanelDrawsALanePerLimit()
{
    Cachedash::LiveSettings settings = m_host->options().liveSettings();
    settings.rateLimits = {{{3, 10s}, {10, 60s}}, Cachedash::RateAlgorithm::Gcra};
    m_host->applyLiveSettings(settings);
    auto *view = m_window->findChild<Cachedash::LimiterWindowWidget *>(QStringLiteral("limiterView"));
    QVERIFY(view);
    m_window->fetch();
    QCOMPARE(outcomes(1), (QList<QByteArray>{"MISS"}));
    // The panel follows the limiter's own peek: a lane per limit, GCRA's state in each.
    QTRY_COMPARE(view->lanes(), 2);
    QCOMPARE(view->algorithm(), Cachedash::RateAlgorithm::Gcra);
    QTRY_COMPARE(view->used(0), 1);
    QCOMPARE(view->limitOf(0), 3);
    QCOMPARE(view->used(1), 1);
    QCOMPARE(view->limitOf(1), 10);
    // The 10 s limit binds (the fewest left), and a request now is admitted.
    QCOMPARE(view->bindingLane(), 0);
    QCOMPARE(view->retryInMs(), 0);
}

void tst_MainWindow::compareAlgorithmsScenario()
{
    // 3 per second: 4 requests at once, then one every 166 ms for 1.5 s, to each algorithm.
    Cachedash::LiveSettings settings = m_host->options().liveSettings();
    settings.rateLimits = {{{3, 1s}}};
    m_host->applyLiveSettings(settings);
    m_window->compareAlgorithms();
    auto *dialog = m_window->findChild<Cachedash::ComparisonDialog *>(QStringLiteral("comparisonDialog"));
    QVERIFY(dialog);
    QVERIFY(dialog->isVisible());
    const QList<qint64> pattern = Cachedash::AlgorithmComparison::pattern({{3, 1s}});
    QCOMPARE(pattern.size(), 13);
    QTRY_COMPARE_WITH_TIMEOUT(dialog->decisions(), 3 * 13, 15000);
    for (Cachedash::RateAlgorithm a : {Cachedash::RateAlgorithm::SlidingLog, Cachedash::RateAlgorithm::Gcra,
             Cachedash::RateAlgorithm::SlidingWindowCounter}) {
        const int admitted = dialog->admitted(a);
        // The burst's first three, and never all.
        QVERIFY2(admitted >= 3 && admitted < 13, qPrintable(QString::number(admitted)));
    }
    // Each counted in keys of its own, none of them the client's.
    QCOMPARE(m_redis.command({"EXISTS", "rate:compare:sliding:127.0.0.1"}), QByteArray("1"));
    QCOMPARE(m_redis.command({"EXISTS", "rate:compare:gcra:{127.0.0.1}:3/1s"}), QByteArray("1"));
    QCOMPARE(m_redis.command({"EXISTS", "rate:compare:counter:{127.0.0.1}:3/1s"}), QByteArray("1"));
    QCOMPARE(m_redis.command({"EXISTS", "rate:sliding:127.0.0.1"}), QByteArray("0"));
    Cachedash::ComparisonStep refused;
    refused.request = 3;
    refused.algorithm = Cachedash::RateAlgorithm::SlidingLog;
    refused.binding = {3, 1s};
    refused.waitMs = 1000;
    QCOMPARE(Cachedash::ComparisonDialog::why(refused),
        QStringLiteral("Request 4 at 0.0 s, sliding-log: refused by 3/1s; admitted again in 1.0 s"));
}

void tst_MainWindow::everyControlIsNamedAndTabbable()
{
    // Every control and panel has an accessible name and description.
    const QList<QWidget *> all = m_window->findChildren<QWidget *>();
    int checked = 0;
    for (QWidget *w : all) {
        const bool control = qobject_cast<QAbstractButton *>(w) || qobject_cast<QAbstractItemView *>(w)
            || qobject_cast<QGroupBox *>(w) || qobject_cast<QProgressBar *>(w)
            || qobject_cast<Cachedash::LatencyChart *>(w) || qobject_cast<Cachedash::LimiterWindowWidget *>(w)
            || (qobject_cast<QComboBox *>(w) && w->objectName() == u"regionCombo")
            || qobject_cast<QSpinBox *>(w);
        // Parts of other widgets (a scroll bar's buttons, a header's) speak through them.
        if (!control || w->objectName().isEmpty() || w->objectName().startsWith(u"qt_"))
            continue;
        QVERIFY2(!w->accessibleName().isEmpty(), qPrintable(w->objectName()));
        QVERIFY2(!w->accessibleDescription().isEmpty(), qPrintable(w->objectName()));
        ++checked;
    }
    QVERIFY2(checked >= 20, qPrintable(QString::number(checked)));
    // Tab goes down the controls, then the top bar, the filters and the log.
    QStringList order;
    for (QWidget *w : m_window->tabOrder()) {
        if (!w->objectName().isEmpty() && !w->objectName().startsWith(u"qt_"))
            order << w->objectName();
    }
    const QStringList expected{QStringLiteral("regionCombo"), QStringLiteral("fetchButton"),
        QStringLiteral("refreshButton"), QStringLiteral("burstButton"), QStringLiteral("burstSpin"),
        QStringLiteral("scenariosButton"), QStringLiteral("copyCurlButton"), QStringLiteral("settingsButton"),
        QStringLiteral("filterAll"), QStringLiteral("filterHIT"), QStringLiteral("filterMISS"),
        QStringLiteral("filterSTALE"), QStringLiteral("filterBYPASS"), QStringLiteral("filterLIMITED"),
        QStringLiteral("filterSHADOW"), QStringLiteral("filterERROR"), QStringLiteral("filterINVALIDATED"),
        QStringLiteral("logView")};
    QCOMPARE(order.mid(0, expected.size()), expected);
}

QTEST_MAIN(tst_MainWindow)
#include "tst_mainwindow.moc"
