// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QList>
#include <QWidget>

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
    enum class Kind { Hit, Miss, Limited, Other };
    struct Point
    {
        qint64 msSinceEpoch = 0;
        double latencyMs = 0;
        Kind kind = Kind::Other;
    };

    explicit LatencyChart(QWidget *parent = nullptr);

    void addPoints(const QList<Point> &points);
    // Scrolls the time axis to now and drops points older than the span.
    void advance(qint64 nowMsSinceEpoch);
    int pointCount() const;

private:
    QScatterSeries *seriesFor(Kind kind) const;
    void publish();

    QChart *m_chart = nullptr;
    QChartView *m_view = nullptr;
    QDateTimeAxis *m_time = nullptr;
    QLogValueAxis *m_latency = nullptr;
    QScatterSeries *m_hits = nullptr;
    QScatterSeries *m_misses = nullptr;
    QScatterSeries *m_limited = nullptr;
    QScatterSeries *m_other = nullptr;
    qint64 m_spanMs = 120000;
    qint64 m_startedMs = 0; // the axis starts here until the span has passed
    // The points of each series, handed over with replace(): QScatterSeries::append() re-styles
    // every marker for each point added, which is quadratic.
    QList<QPointF> m_points[4];
    struct Budget
    {
        double tokens = 20; // points a series may take now
        double atMs = 0; // when the budget was last topped up
    };
    Budget m_budget[4];
};

} // namespace Cachedash
