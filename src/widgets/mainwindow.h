// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "latencychart.h"

#include "app/dashboardsnapshot.h"
#include "app/eventloopprobe.h"
#include "app/latencystats.h"
#include "app/requestlogmodel.h"

#include <QElapsedTimer>
#include <QMainWindow>
#include <QNetworkAccessManager>
#include <QTimer>

#include <memory>

namespace Ui {
class MainWindow;
}

namespace Cachedash {

class ComparisonDialog;

class LogFilterProxy;
class ServiceHost;

// The dashboard: buttons that send real HTTP to the embedded service, the request log, the latency
// chart, the report's TTL and the limiter's window. It repaints on its own clock (30 times a
// second at most), taking the requests that arrived meanwhile in one batch, so load on the server
// never floods it.
class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    explicit MainWindow(ServiceHost &host, QWidget *parent = nullptr);
    ~MainWindow() override;

    QString region() const;
    void setRegion(const QString &region);
    RequestLogModel &logModel() { return m_log; }
    LogFilterProxy &logFilter() { return *m_filter; }
    QString ttlText() const;
    double ttlSecondsLeft() const;
    const EventLoopProbe &eventLoopProbe() const { return m_probe; }
    // The widgets Tab visits, in order, from the region box.
    QList<QWidget *> tabOrder() const;

public Q_SLOTS:
    void fetch();
    void refresh();
    void burst();
    void copyCurl();
    void runStampede();
    void runRefreshDuringFill();
    void runRedisOutage();
    // Opens "Compare algorithms" and sends its pattern (see AlgorithmComparison).
    void compareAlgorithms();
    void editSettings();

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    // Accessible names and descriptions, the tab order and the shortcuts (mainwindowaccess.cpp).
    void setUpAccess();
    QString nodeSuffix(const QString &node) const;
    void tick();
    void applySnapshot(const DashboardSnapshot &snapshot);
    void updateTtl();
    void updateLimiterText();
    void updateCounters();
    void explain(const RequestRecord &record);
    void send(const QByteArray &method, const QString &path, std::function<void()> then = {});
    void sendBurst(int left);
    void showSettings();
    void restoreSettings();
    void saveSettings();

    std::unique_ptr<Ui::MainWindow> m_ui;
    ServiceHost &m_host;
    RequestLogModel m_log;
    LogFilterProxy *m_filter = nullptr;
    QNetworkAccessManager m_nam;
    QTimer m_tick;
    LatencyStats m_latency;
    EventLoopProbe m_probe;
    // More events than this in one tick (about 1,000 requests a second) is a flood.
    static constexpr int BusyEventsPerTick = 32;
    static constexpr int MaxPendingPoints = 4000;
    QList<RequestFeed::Event> m_pendingEvents; // for the log, at its next update
    QList<LatencyChart::Point> m_pendingPoints; // shown on the chart a few times a second
    int m_ticks = 0;
    DashboardSnapshot m_snapshot;
    QElapsedTimer m_sinceSnapshot;
    bool m_haveSnapshot = false;
    ComparisonDialog *m_comparison = nullptr;
};

} // namespace Cachedash
