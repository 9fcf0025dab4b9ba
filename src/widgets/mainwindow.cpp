// SPDX-License-Identifier: GPL-3.0-or-later
#include "mainwindow.h"

#include "comparisondialog.h"
#include "latencychart.h"
#include "limiterwindowwidget.h"
#include "logfilterproxy.h"

#include "app/servicehost.h"
#include "ui_mainwindow.h"
#include "ui_settingsdialog.h"

#include <QButtonGroup>
#include <QClipboard>
#include <QCloseEvent>
#include <QDateTime>
#include <QGuiApplication>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QMenu>
#include <QNetworkReply>
#include <QScreen>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QShortcut>
#include <QStatusBar>
#include <QTcpSocket>
#include <QToolButton>
#include <QUrl>

namespace Cachedash {

namespace {
const QStringList DefaultRegions{QStringLiteral("emea"), QStringLiteral("apac"), QStringLiteral("amer"),
    QStringLiteral("latam"), QStringLiteral("nordics"), QStringLiteral("zürich")};

QString formatMs(double ms)
{
    if (ms >= 100)
        return QStringLiteral("%1 ms").arg(ms, 0, 'f', 0);
    return QStringLiteral("%1 ms").arg(ms, 0, 'f', ms < 10 ? 1 : 0);
}
} // namespace

MainWindow::MainWindow(ServiceHost &host, QWidget *parent)
    : QMainWindow(parent)
    , m_ui(std::make_unique<Ui::MainWindow>())
    , m_host(host)
    , m_filter(new LogFilterProxy(this))
{
    m_ui->setupUi(this);
    setWindowIcon(QIcon(QStringLiteral(":/icons/cachedash.svg")));

    const ServiceOptions &o = host.options();
    m_ui->serverLabel->setText(QStringLiteral("<a href=\"%1\">%1</a>").arg(host.baseUrl()));
    m_ui->serverLabel->setTextInteractionFlags(Qt::TextBrowserInteraction);
    m_ui->serverLabel->setOpenExternalLinks(true);
    showSettings();
    connect(m_ui->settingsButton, &QPushButton::clicked, this, &MainWindow::editSettings);

    m_ui->regionCombo->addItems(DefaultRegions);
    m_ui->regionCombo->setInsertPolicy(QComboBox::InsertAtTop);
    m_ui->ttlBar->setMaximum(int(o.cacheTtl.count() * 1000));

    // Scenarios that show the hard cases.
    auto *scenarios = new QMenu(this);
    scenarios->addAction(tr("Stampede: 20 concurrent cold requests"), this, &MainWindow::runStampede);
    scenarios->addAction(tr("Refresh during a fill"), this, &MainWindow::runRefreshDuringFill);
    scenarios->addAction(tr("Redis outage: pause Redis for 3 s"), this, &MainWindow::runRedisOutage);
    scenarios->addAction(
        tr("Compare algorithms: one burst, three limiters"), this, &MainWindow::compareAlgorithms);
    m_ui->scenariosButton->setMenu(scenarios);

    connect(m_ui->fetchButton, &QPushButton::clicked, this, &MainWindow::fetch);
    connect(m_ui->refreshButton, &QPushButton::clicked, this, &MainWindow::refresh);
    connect(m_ui->burstButton, &QPushButton::clicked, this, &MainWindow::burst);
    connect(m_ui->copyCurlButton, &QPushButton::clicked, this, &MainWindow::copyCurl);
    new QShortcut(QKeySequence(Qt::Key_F5), this, this, &MainWindow::fetch);
    new QShortcut(QKeySequence(Qt::Key_F6), this, this, &MainWindow::refresh);
    new QShortcut(QKeySequence(Qt::Key_F7), this, this, &MainWindow::burst);
    connect(m_ui->regionCombo, &QComboBox::currentTextChanged, this, [this] {
        m_host.watch(region());
        m_haveSnapshot = false;
        updateTtl();
    });

    // The log, filterable by outcome.
    m_filter->setSourceModel(&m_log);
    m_ui->logView->setModel(m_filter);
    m_ui->logView->verticalHeader()->hide();
    m_ui->logView->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 6);
    // The path takes the room left; Retry-After, mostly empty, keeps a narrow column at the end.
    m_ui->logView->horizontalHeader()->setStretchLastSection(false);
    m_ui->logView->horizontalHeader()->setSectionResizeMode(RequestLogModel::Path, QHeaderView::Stretch);
    m_ui->logView->setColumnWidth(RequestLogModel::RetryAfter, 90);
    m_ui->logView->setColumnWidth(RequestLogModel::Time, 110);
    m_ui->logView->setColumnWidth(RequestLogModel::Client, 120);
    m_ui->logView->setColumnWidth(RequestLogModel::Method, 70);
    m_ui->logView->setColumnWidth(RequestLogModel::Path, 260);
    m_ui->logView->setColumnWidth(RequestLogModel::Status, 60);
    m_ui->logView->setColumnWidth(RequestLogModel::Outcome, 110);
    m_ui->logView->setColumnWidth(RequestLogModel::Latency, 100);
    auto *filters = new QHBoxLayout(m_ui->filterButtons);
    filters->setContentsMargins(8, 0, 0, 0);
    auto *group = new QButtonGroup(this);
    const std::optional<Outcome> outcomes[] = {std::nullopt, Outcome::Hit, Outcome::Miss, Outcome::Stale,
        Outcome::Bypass, Outcome::Limited, Outcome::Shadowed, Outcome::Error, Outcome::Invalidated};
    for (const std::optional<Outcome> outcome : outcomes) {
        // Refreshes are one filter: invalidated, or nothing was stored.
        const QString name = !outcome          ? tr("All")
            : *outcome == Outcome::Invalidated ? tr("REFRESH")
                                               : QString::fromLatin1(outcomeName(*outcome));
        auto *button = new QToolButton(m_ui->filterButtons);
        button->setText(name);
        button->setCheckable(true);
        button->setAutoRaise(true);
        button->setObjectName(QStringLiteral("filter")
            + (outcome ? QString::fromLatin1(outcomeName(*outcome)) : QStringLiteral("All")));
        button->setChecked(!outcome);
        group->addButton(button);
        filters->addWidget(button);
        connect(button, &QToolButton::clicked, this, [this, outcome] { m_filter->setOutcome(outcome); });
    }

    // The controls scroll when the window (or a large font or scale) leaves them less room than they
    // need, rather than squeezing a label until its last line is cut.
    auto *scroll = new QScrollArea;
    scroll->setObjectName(QStringLiteral("controlScroll"));
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setWidgetResizable(true);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_ui->horizontalSplitter->insertWidget(0, scroll);
    scroll->setWidget(m_ui->controlPanel);
    scroll->setMinimumWidth(
        m_ui->controlPanel->minimumSizeHint().width() + scroll->verticalScrollBar()->sizeHint().width());
    setUpAccess();
    connect(&m_host, &ServiceHost::snapshotReady, this, &MainWindow::applySnapshot);
    connect(&m_host, &ServiceHost::settingsChanged, this, &MainWindow::showSettings);
    m_tick.setInterval(33);
    connect(&m_tick, &QTimer::timeout, this, &MainWindow::tick);
    m_tick.start();

    restoreSettings();
    m_host.watch(region());
    updateTtl();
    updateCounters();
    m_ui->cacheHelpLabel->setText(
        tr("Fetch a region: the first fetch is a <b>miss</b> (computed, %1 s), the next "
           "ones are <b>hits</b> served from Redis until the key expires.")
            .arg(double(o.reportDelay.count()) / 1000.0));
}

MainWindow::~MainWindow() = default;

QString MainWindow::region() const
{
    return m_ui->regionCombo->currentText().trimmed();
}

void MainWindow::setRegion(const QString &region)
{
    m_ui->regionCombo->setCurrentText(region);
}

void MainWindow::send(const QByteArray &method, const QString &path, std::function<void()> then)
{
    QUrl url(m_host.baseUrl());
    url.setPath(path, QUrl::DecodedMode);
    QNetworkRequest request(url);
    request.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    if (!m_host.options().adminToken.isEmpty())
        request.setRawHeader(QByteArrayLiteral("Authorization"), "Bearer " + m_host.options().adminToken);
    QNetworkReply *reply = m_nam.sendCustomRequest(request, method);
    connect(reply, &QNetworkReply::finished, this, [this, reply, then = std::move(then)] {
        reply->deleteLater();
        m_host.refreshSnapshot();
        if (then)
            then();
    });
}

void MainWindow::fetch()
{
    send(QByteArrayLiteral("GET"), QStringLiteral("/reports/") + region());
}

void MainWindow::refresh()
{
    send(QByteArrayLiteral("POST"), QStringLiteral("/reports/") + region() + QStringLiteral("/refresh"));
}

void MainWindow::burst()
{
    sendBurst(m_ui->burstSpin->value());
}

void MainWindow::sendBurst(int left)
{
    if (left <= 0)
        return;
    send(QByteArrayLiteral("GET"), QStringLiteral("/reports/") + region(),
        [this, left] { sendBurst(left - 1); });
}

void MainWindow::copyCurl()
{
    const QString command = QStringLiteral("curl -s -w \"\\n(%{time_total}s)\\n\" %1/reports/%2")
                                .arg(m_host.baseUrl(), QString::fromUtf8(QUrl::toPercentEncoding(region())));
    QGuiApplication::clipboard()->setText(command);
    statusBar()->showMessage(tr("Copied: %1").arg(command), 4000);
}

void MainWindow::runStampede()
{
    // Twenty different clients (127.0.0.2 to .21 on the loopback), each asking for the same cold
    // report at once: the limiter lets each one in, and the cache computes once for all.
    const QString target = region();
    const quint16 port = quint16(QUrl(m_host.baseUrl()).port());
    send(QByteArrayLiteral("POST"), QStringLiteral("/reports/") + target + QStringLiteral("/refresh"),
        [this, target, port] {
            const QByteArray request = "GET /reports/" + QUrl::toPercentEncoding(target)
                + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
            for (int i = 2; i < 22; ++i) {
                auto *socket = new QTcpSocket(this);
                socket->bind(QHostAddress(QStringLiteral("127.0.0.%1").arg(i)), 0);
                connect(
                    socket, &QTcpSocket::connected, socket, [socket, request] { socket->write(request); });
                connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
                connect(socket, &QTcpSocket::errorOccurred, socket, &QObject::deleteLater);
                socket->connectToHost(QHostAddress::LocalHost, port);
            }
        });
}

void MainWindow::runRefreshDuringFill()
{
    // Start a fill, invalidate while it computes, then fetch again: the second fetch is a miss,
    // because the first computation was not allowed to write its outdated report.
    const QString base = QStringLiteral("/reports/") + region();
    send(QByteArrayLiteral("POST"), base + QStringLiteral("/refresh"), [this, base] {
        send(QByteArrayLiteral("GET"), base, [this, base] {
            QTimer::singleShot(200, this, [this, base] { send(QByteArrayLiteral("GET"), base); });
        });
        const int halfway = int(m_host.options().reportDelay.count() / 2);
        QTimer::singleShot(halfway, this,
            [this, base] { send(QByteArrayLiteral("POST"), base + QStringLiteral("/refresh")); });
    });
}

void MainWindow::runRedisOutage()
{
    m_host.pauseRedis(3000);
    const QString base = QStringLiteral("/reports/") + region();
    for (int i = 0; i < 3; ++i)
        QTimer::singleShot(200 + i * 1100, this, [this, base] { send(QByteArrayLiteral("GET"), base); });
}

void MainWindow::compareAlgorithms()
{
    if (!m_comparison) {
        m_comparison = new ComparisonDialog(this);
        connect(&m_host, &ServiceHost::comparisonStep, m_comparison, &ComparisonDialog::add);
        connect(&m_host, &ServiceHost::comparisonFinished, m_comparison, &ComparisonDialog::finish);
    }
    m_comparison->begin(m_host.compareAlgorithms());
    m_comparison->show();
    m_comparison->raise();
}

void MainWindow::tick()
{
    // Everything that arrived since the last tick, in one batch. When requests are few, the log
    // and the limiter's window move at every tick (30 a second); under a flood, which no one reads
    // row by row anyway, at every sixth, and so does the text that changes with every request. The
    // chart and the counters, which cost more to redraw, move five times a second.
    const QList<RequestFeed::Event> events = m_host.feed().take();
    for (const RequestFeed::Event &event : events) {
        if (!event.finished)
            continue;
        const RequestRecord &r = event.record;
        m_latency.add(r.latencyMs);
        // Plotted when it arrived, as the log lists it.
        m_pendingPoints.append({r.startedMsSinceEpoch, r.latencyMs, r.outcome});
    }
    m_pendingEvents.append(events);
    if (m_pendingPoints.size() >= MaxPendingPoints) // a sample is all the chart keeps of a flood
        m_pendingPoints.remove(0, m_pendingPoints.size() - MaxPendingPoints / 2);
    ++m_ticks;
    const bool busy = events.size() > BusyEventsPerTick;
    const bool slowTick = m_ticks % 6 == 0;
    const bool mediumTick = !busy || slowTick;
    if (mediumTick && !m_pendingEvents.isEmpty()) {
        const QList<RequestFeed::Event> batch = std::exchange(m_pendingEvents, {});
        m_log.apply(batch);
        for (auto it = batch.crbegin(); it != batch.crend(); ++it) {
            if (it->finished) {
                explain(it->record);
                break;
            }
        }
    }
    if (!isVisible())
        return;
    if (slowTick || (!events.isEmpty() && !busy)) {
        m_ui->latencyChart->addPoints(std::exchange(m_pendingPoints, {}));
        m_ui->latencyChart->advance(QDateTime::currentMSecsSinceEpoch());
        updateCounters();
        m_ui->shownLabel->setText(
            tr("%1 shown (the last %2 are kept)").arg(m_filter->rowCount()).arg(m_log.capacity()));
    }
    if (mediumTick) {
        updateTtl();
        updateLimiterText();
        m_ui->limiterView->update();
    }
}

void MainWindow::explain(const RequestRecord &r)
{
    const QString key = QStringLiteral("<code>report:%1</code>").arg(region().toHtmlEscaped());
    QString text;
    if (r.outcome == Outcome::Hit)
        text = tr("<b>Hit</b>: the report was in Redis, served in %1 with no computation.")
                   .arg(formatMs(r.latencyMs));
    else if (r.outcome == Outcome::Miss)
        text = tr("<b>Miss</b>: nothing in Redis, so the report was computed (%1) and stored with a TTL; "
                  "concurrent requests for it waited for that one computation.")
                   .arg(formatMs(r.latencyMs));
    else if (r.outcome == Outcome::Stale)
        text = tr("<b>Stale</b>: expired, but served from Redis while one request recomputes it.");
    else if (r.outcome == Outcome::Bypass)
        text = tr("<b>Bypass</b>: Redis did not answer, so the report was computed directly and not stored.");
    else if (r.outcome == Outcome::Limited)
        text = tr("<b>429</b>: a limit (%1) was full. Retry-After (%2 s) is when every limit admits again.")
                   .arg(m_host.options().rateLimits.describe().toHtmlEscaped())
                   .arg(r.retryAfterSeconds);
    else if (r.outcome == Outcome::Shadowed)
        text = tr("<b>Shadow</b>: a limit (%1) would have refused this request; shadow mode served it "
                  "and counted it apart.")
                   .arg(m_host.options().rateLimits.describe().toHtmlEscaped());
    else if (r.outcome == Outcome::Invalidated)
        text = tr("<b>Invalidated</b>: %1 was deleted, so the next fetch is a miss.").arg(key);
    else if (r.outcome == Outcome::NotCached)
        text = tr("<b>Nothing to invalidate</b>: %1 was not stored (expired, or never fetched).").arg(key);
    // Said of one request: when it happened, so that it is not read as what holds now.
    if (!text.isEmpty())
        m_ui->cacheHelpLabel->setText(tr("At %1 — %2")
                                          .arg(QDateTime::fromMSecsSinceEpoch(r.startedMsSinceEpoch)
                                                   .toString(QStringLiteral("HH:mm:ss")),
                                              text));
}

void MainWindow::applySnapshot(const DashboardSnapshot &snapshot)
{
    if (snapshot.region != region())
        return;
    m_snapshot = snapshot;
    m_haveSnapshot = true;
    if (!snapshot.notice.isEmpty())
        statusBar()->showMessage(snapshot.notice, 15000);
    m_sinceSnapshot.restart();
    m_ui->limiterView->setWindow(snapshot.limiterEntries, snapshot.limiterCount, snapshot.redisNowMs,
        snapshot.limit, snapshot.windowMs);
    m_ui->limiterView->setLimits(snapshot.algorithm, snapshot.limits, snapshot.limitsReadAtUs);
    // The limiter's own key names: the first, and a mark when each limit has one.
    const QString key = QString::fromUtf8(snapshot.limiterKey)
        + (snapshot.limiterKeys.size() > 1 ? QStringLiteral(" …") : QString());
    m_ui->limiterKeyLabel->setText(
        tr("%1, key <code>%2</code> (this window's client)%3")
            .arg(algorithmName(snapshot.algorithm), key.toHtmlEscaped(), nodeSuffix(snapshot.limiterNode)));
    const QString state = snapshot.redisState;
    const QString color = state == u"up" ? QStringLiteral("#2e8b57") : QStringLiteral("#d9483b");
    // TLS is worth a glance (and says how the server is checked); plain TCP is the default.
    const QString tls = snapshot.redisTransport.startsWith(u"TLS")
        ? QStringLiteral(" · <b>%1</b>").arg(snapshot.redisTransport.toHtmlEscaped())
        : QString();
    m_ui->redisLabel->setText(tr("Redis %1 <b style=\"color:%2\">(%3)</b>%4 · %5%6")
                                  .arg(m_host.redisUrl().toHtmlEscaped(), color, state.toHtmlEscaped(),
                                      m_host.usesPrivateRedis() ? tr(" private") : QString(),
                                      snapshot.redisMode.toHtmlEscaped(), tls));
    updateTtl();
    updateLimiterText();
}

double MainWindow::ttlSecondsLeft() const
{
    if (!m_haveSnapshot || !m_snapshot.redisAnswered || m_snapshot.reportPttlMs < 0)
        return -1;
    return std::max(0.0, double(m_snapshot.reportPttlMs - m_sinceSnapshot.elapsed()) / 1000.0);
}

// " on node 127.0.0.1:7001", where a key lives, when Redis has more than one node.
QString MainWindow::nodeSuffix(const QString &node) const
{
    if (node.isEmpty() || !m_haveSnapshot || m_snapshot.redisMode.startsWith(u"standalone"))
        return QString();
    return tr(" on node <code>%1</code>").arg(node.toHtmlEscaped());
}

QString MainWindow::ttlText() const
{
    return m_ui->ttlLabel->text();
}

void MainWindow::updateTtl()
{
    m_ui->cacheKeyLabel->setText(
        tr("Key <code>report:%1</code>%2")
            .arg(region().toHtmlEscaped(), m_haveSnapshot ? nodeSuffix(m_snapshot.reportNode) : QString()));
    if (!m_haveSnapshot) {
        m_ui->ttlBar->setValue(0);
        m_ui->ttlLabel->setText(tr("…"));
        return;
    }
    if (!m_snapshot.redisAnswered) {
        m_ui->ttlBar->setValue(0);
        m_ui->ttlLabel->setText(tr("Redis is not answering"));
        return;
    }
    const double left = ttlSecondsLeft();
    if (left <= 0) {
        m_ui->ttlBar->setValue(0);
        m_ui->ttlLabel->setText(tr("not cached: the next fetch is a miss"));
        return;
    }
    m_ui->ttlBar->setMaximum(int(m_snapshot.freshTtlSeconds * 1000));
    m_ui->ttlBar->setValue(int(std::min<double>(left * 1000, m_snapshot.freshTtlSeconds * 1000)));
    m_ui->ttlLabel->setText(
        tr("%1 s left of %2 s (TTL in Redis)").arg(left, 0, 'f', 1).arg(m_snapshot.freshTtlSeconds));
}

void MainWindow::updateLimiterText()
{
    if (!m_haveSnapshot)
        return;
    const LimiterWindowWidget *view = m_ui->limiterView;
    const int lane = view->bindingLane();
    const qint64 next = view->retryInMs();
    QString text = tr("now: <b>%1 of %2</b> used").arg(view->used(lane)).arg(view->limitOf(lane));
    if (view->lanes() > 1)
        text += tr(" in the limit that binds");
    if (next > 0)
        text += tr("; a request now would wait <b>%1 s</b> (Retry-After %2)")
                    .arg(double(next) / 1000.0, 0, 'f', 1)
                    .arg((next + 999) / 1000);
    else
        text += tr("; a request now is admitted");
    m_ui->limiterLabel->setText(text);
}

void MainWindow::updateCounters()
{
    const RequestFeed::Totals t = m_host.feed().totals();
    const quint64 lookups = t.hits + t.stale + t.misses;
    const QString ratio = lookups
        ? QStringLiteral("%1 %").arg(100.0 * double(t.hits + t.stale) / double(lookups), 0, 'f', 0)
        : QStringLiteral("–");
    m_ui->countersLabel->setText(
        tr("hits <b>%2</b> · misses <b>%3</b> · hit ratio <b>%4</b><br>"
           "429s <b>%5</b>%8 · bypassed <b>%6</b> · computations <b>%7</b><br>"
           "refreshes: invalidated <b>%9</b> · not cached <b>%10</b> · all requests <b>%1</b>")
            .arg(t.requests)
            .arg(t.hits + t.stale)
            .arg(t.misses)
            .arg(ratio)
            .arg(t.limited)
            .arg(t.bypass)
            .arg(m_snapshot.computations)
            .arg(t.shadowed ? tr(" · shadowed <b>%1</b>").arg(t.shadowed) : QString())
            .arg(t.invalidated)
            .arg(t.notCached));
    if (m_latency.count() > 0)
        m_ui->percentileLabel->setText(
            tr("p50 <b>%1</b> · p99 <b>%2</b>")
                .arg(formatMs(m_latency.percentile(50)), formatMs(m_latency.percentile(99))));
}

void MainWindow::showSettings()
{
    const ServiceOptions &o = m_host.options();
    m_ui->settingsLabel->setText(tr("report %1 ms · TTL %2 s · limits %3")
                                     .arg(o.reportDelay.count())
                                     .arg(o.cacheTtl.count())
                                     .arg(o.rateLimits.describe()));
}

void MainWindow::editSettings()
{
    QDialog dialog(this);
    Ui::SettingsDialog form;
    form.setupUi(&dialog);
    const ServiceOptions &o = m_host.options();
    form.delaySpin->setValue(int(o.reportDelay.count()));
    form.ttlSpin->setValue(int(o.cacheTtl.count()));
    form.limitsEdit->setText(RateLimit::listText(o.rateLimits.limits));
    form.refreshLimitsEdit->setText(RateLimit::listText(o.refreshRateLimits));
    for (RateAlgorithm a :
        {RateAlgorithm::SlidingLog, RateAlgorithm::Gcra, RateAlgorithm::SlidingWindowCounter})
        form.algorithmCombo->addItem(algorithmName(a), int(a));
    form.algorithmCombo->setCurrentIndex(int(o.rateLimits.algorithm));
    for (RateLimitMode m : {RateLimitMode::Enforce, RateLimitMode::Shadow})
        form.modeCombo->addItem(modeName(m), int(m));
    form.modeCombo->setCurrentIndex(int(o.rateLimits.mode));
    form.exemptEdit->setText(o.rateLimitExempt.join(QStringLiteral(", ")));
    form.problemLabel->setStyleSheet(QStringLiteral("color: palette(highlight)"));
    LiveSettings settings = o.liveSettings();
    // OK applies only settings that hold; otherwise the dialog stays, saying why.
    connect(form.buttons, &QDialogButtonBox::accepted, &dialog, [&] {
        QString problem;
        const auto limits = RateLimit::parseList(form.limitsEdit->text(), &problem);
        const auto refresh
            = limits ? RateLimit::parseList(form.refreshLimitsEdit->text(), &problem) : std::nullopt;
        if (limits && refresh) {
            settings.reportDelay = std::chrono::milliseconds(form.delaySpin->value());
            settings.cacheTtl = std::chrono::seconds(form.ttlSpin->value());
            settings.rateLimits = {*limits, RateAlgorithm(form.algorithmCombo->currentData().toInt()),
                RateLimitMode(form.modeCombo->currentData().toInt())};
            settings.refreshRateLimits = *refresh;
            settings.rateLimitExempt.clear();
            for (const QString &range : form.exemptEdit->text().split(u',', Qt::SkipEmptyParts))
                settings.rateLimitExempt << range.trimmed();
            problem = ServiceOptions::problemWith(settings);
        }
        if (!problem.isEmpty()) {
            form.problemLabel->setText(problem);
            form.problemLabel->setVisible(true);
            return;
        }
        dialog.accept();
    });
    if (dialog.exec() != QDialog::Accepted)
        return;
    m_host.applyLiveSettings(settings);
    QSettings saved;
    saved.beginGroup(QStringLiteral("service"));
    saved.setValue(QStringLiteral("report-delay-ms"), qint64(settings.reportDelay.count()));
    saved.setValue(QStringLiteral("cache-ttl"), qint64(settings.cacheTtl.count()));
    saved.setValue(QStringLiteral("rate-limit"), RateLimit::listText(settings.rateLimits.limits));
    saved.remove(QStringLiteral("rate-window"));
    saved.setValue(QStringLiteral("refresh-rate-limit"), RateLimit::listText(settings.refreshRateLimits));
    saved.setValue(QStringLiteral("rate-algorithm"), algorithmName(settings.rateLimits.algorithm));
    saved.setValue(QStringLiteral("rate-limit-mode"), modeName(settings.rateLimits.mode));
    saved.setValue(QStringLiteral("rate-limit-exempt"), settings.rateLimitExempt.join(u','));
    showSettings();
}

void MainWindow::restoreSettings()
{
    QSettings settings;
    // The first time, the window takes its designed size or the screen, whichever is smaller (at
    // 150 % a 1280 x 800 window is wider than many screens).
    if (!restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray()) && screen())
        resize(size().boundedTo(screen()->availableGeometry().size()));
    m_ui->verticalSplitter->restoreState(
        settings.value(QStringLiteral("window/verticalSplitter")).toByteArray());
    m_ui->horizontalSplitter->restoreState(
        settings.value(QStringLiteral("window/horizontalSplitter")).toByteArray());
    if (!settings.contains(QStringLiteral("window/verticalSplitter"))) {
        m_ui->verticalSplitter->setSizes({595, 205});
        m_ui->horizontalSplitter->setSizes({420, 840});
    }
    const QString last = settings.value(QStringLiteral("window/region"), QStringLiteral("emea")).toString();
    setRegion(last);
}

void MainWindow::saveSettings()
{
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/verticalSplitter"), m_ui->verticalSplitter->saveState());
    settings.setValue(QStringLiteral("window/horizontalSplitter"), m_ui->horizontalSplitter->saveState());
    settings.setValue(QStringLiteral("window/region"), region());
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    saveSettings();
    event->accept();
}

} // namespace Cachedash
