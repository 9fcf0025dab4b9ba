// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "api/outcome.h"

#include <QList>
#include <QStringList>
#include <QWidget>

#include <array>

class QChart;
class QChartView;
class QDateTimeAxis;
class QLogValueAxis;
class QScatterSeries;

namespace Cachedash {

// Each request as a point, latency on a logarithmic axis (so a 2 ms hit and a 1500 ms miss share
// one chart), over the last two minutes. Points arrive in batches; each series takes 5 a second on
// average (in bursts of up to 20), so a flood of requests is sampled evenly over the span rather
// than piled up at its end.
class LatencyChart : public QWidget
{
    Q_OBJECT

public:
    struct Point
    {
        qint64 msSinceEpoch = 0; // when the request arrived, as the log shows it
        double latencyMs = 0;
        Outcome outcome = Outcome::None; // None: another route (/healthz, /metrics, ...)
    };

    explicit LatencyChart(QWidget *parent = nullptr);

    void addPoints(const QList<Point> &points);
    // Scrolls the time axis to now and drops points older than the span.
    void advance(qint64 nowMsSinceEpoch);
    int pointCount() const;
    // The legend's names of the series that have points now.
    QStringList legendNames() const;

private:
    void publish();

    static constexpr size_t Series = AllOutcomes.size();
    QChart *m_chart = nullptr;
    QChartView *m_view = nullptr;
    QDateTimeAxis *m_time = nullptr;
    QLogValueAxis *m_latency = nullptr;
    // One series per outcome, in its colour, named in the legend while it has points.
    std::array<QScatterSeries *, Series> m_series{};
    qint64 m_spanMs = 120000;
    qint64 m_startedMs = 0; // the axis starts here until the span has passed
    // The points of each series, handed over with replace(): QScatterSeries::append() re-styles
    // every marker for each point added, which is quadratic.
    std::array<QList<QPointF>, Series> m_points;
    struct Budget
    {
        double tokens = 20; // points a series may take now
        double atMs = 0; // when the budget was last topped up
    };
    std::array<Budget, Series> m_budget;
};

} // namespace Cachedash
