// SPDX-License-Identifier: GPL-3.0-or-later
#include "latencychart.h"

#include "outcomecolors.h"

#include <QChart>
#include <QChartView>
#include <QDateTime>
#include <QDateTimeAxis>
#include <QLogValueAxis>
#include <QScatterSeries>
#include <QVBoxLayout>

namespace Cachedash {

namespace {
// A series takes points at MaxPointsPerSeries per span on average (5 a second), in bursts of up
// to BurstPoints: a button's burst shows whole, and a flood shows as a sample spread evenly over
// the span, with few enough markers to redraw cheaply.
constexpr int MaxPointsPerSeries = 600;
constexpr double BurstPoints = 20;

QScatterSeries *makeSeries(
    const QString &name, const QColor &color, QScatterSeries::MarkerShape shape, qreal size)
{
    auto *series = new QScatterSeries;
    series->setName(name);
    series->setColor(color);
    series->setBorderColor(color.darker(130));
    series->setMarkerShape(shape);
    series->setMarkerSize(size);
    series->setUseOpenGL(false);
    return series;
}
} // namespace

LatencyChart::LatencyChart(QWidget *parent)
    : QWidget(parent)
    , m_chart(new QChart)
{
    m_hits = makeSeries(tr("hit"), colorOf(Outcome::Hit), QScatterSeries::MarkerShapeCircle, 7);
    m_misses = makeSeries(tr("miss"), colorOf(Outcome::Miss), QScatterSeries::MarkerShapeRectangle, 10);
    m_limited = makeSeries(tr("429"), colorOf(Outcome::Limited), QScatterSeries::MarkerShapeCircle, 7);
    m_other = makeSeries(tr("other"), colorOf(Outcome::Bypass), QScatterSeries::MarkerShapeCircle, 7);

    m_time = new QDateTimeAxis;
    m_time->setFormat(QStringLiteral("HH:mm:ss"));
    m_time->setTickCount(5);
    m_latency = new QLogValueAxis;
    m_latency->setBase(10);
    m_latency->setRange(0.01, 10000);
    m_latency->setLabelFormat(QStringLiteral("%g ms"));
    m_latency->setMinorTickCount(-1);
    m_chart->addAxis(m_time, Qt::AlignBottom);
    m_chart->addAxis(m_latency, Qt::AlignLeft);
    for (QScatterSeries *s : {m_hits, m_misses, m_limited, m_other}) {
        m_chart->addSeries(s);
        s->attachAxis(m_time);
        s->attachAxis(m_latency);
    }
    m_chart->legend()->setAlignment(Qt::AlignBottom);
    m_chart->setMargins(QMargins(4, 4, 4, 4));
    m_chart->setBackgroundRoundness(0);
    m_chart->setAnimationOptions(QChart::NoAnimation);
    m_chart->setTheme(palette().color(QPalette::Window).lightness() < 128 ? QChart::ChartThemeDark
                                                                          : QChart::ChartThemeLight);
    for (QScatterSeries *s : {m_hits, m_misses, m_limited, m_other}) // the theme reset them
        s->setBorderColor(s->color().darker(130));
    m_hits->setColor(colorOf(Outcome::Hit));
    m_misses->setColor(colorOf(Outcome::Miss));
    m_limited->setColor(colorOf(Outcome::Limited));
    m_other->setColor(colorOf(Outcome::Bypass));

    m_view = new QChartView(m_chart, this);
    m_view->setRenderHint(QPainter::Antialiasing);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_view);
    m_startedMs = QDateTime::currentMSecsSinceEpoch();
    advance(m_startedMs);
}

QScatterSeries *LatencyChart::seriesFor(Kind kind) const
{
    switch (kind) {
    case Kind::Hit: return m_hits;
    case Kind::Miss: return m_misses;
    case Kind::Limited: return m_limited;
    case Kind::Other: return m_other;
    }
    return m_other;
}

void LatencyChart::addPoints(const QList<Point> &points)
{
    const double perMs = double(MaxPointsPerSeries) / double(m_spanMs);
    for (const Point &p : points) {
        Budget &budget = m_budget[int(p.kind)];
        const double t = double(p.msSinceEpoch);
        budget.tokens = std::min(BurstPoints, budget.tokens + std::max(0.0, t - budget.atMs) * perMs);
        budget.atMs = std::max(budget.atMs, t);
        if (budget.tokens < 1)
            continue;
        budget.tokens -= 1;
        m_points[int(p.kind)].append(QPointF(t, std::clamp(p.latencyMs, 0.012, 10000.0)));
    }
    for (QList<QPointF> &list : m_points) {
        if (list.size() > MaxPointsPerSeries)
            list.remove(0, list.size() - MaxPointsPerSeries);
    }
}

void LatencyChart::advance(qint64 now)
{
    // Until two minutes have passed, the axis spans the time since start (at least 20 s), so the
    // first requests are not squeezed against its right edge.
    const qint64 from = std::min(std::max(now - m_spanMs, m_startedMs), now - 20000);
    m_time->setRange(QDateTime::fromMSecsSinceEpoch(from), QDateTime::fromMSecsSinceEpoch(now));
    const double oldest = double(now - m_spanMs);
    for (QList<QPointF> &list : m_points) {
        qsizetype stale = 0;
        while (stale < list.size() && list[stale].x() < oldest)
            ++stale;
        list.remove(0, stale);
    }
    publish();
}

void LatencyChart::publish()
{
    for (int k = 0; k < 4; ++k) {
        QScatterSeries *series = seriesFor(Kind(k));
        if (series->count() != m_points[k].size()
            || (!m_points[k].isEmpty() && series->at(series->count() - 1) != m_points[k].last()))
            series->replace(m_points[k]);
    }
}

int LatencyChart::pointCount() const
{
    return m_hits->count() + m_misses->count() + m_limited->count() + m_other->count();
}

} // namespace Cachedash
