// SPDX-License-Identifier: GPL-3.0-or-later
#include "latencychart.h"

#include "outcomecolors.h"

#include <QChart>
#include <QChartView>
#include <QDateTime>
#include <QDateTimeAxis>
#include <QLegend>
#include <QLegendMarker>
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

// The legend's name of each outcome's series.
QString seriesName(Outcome outcome)
{
    switch (outcome) {
    case Outcome::None: return LatencyChart::tr("other routes");
    case Outcome::Hit: return LatencyChart::tr("hit");
    case Outcome::Stale: return LatencyChart::tr("stale");
    case Outcome::Miss: return LatencyChart::tr("miss");
    case Outcome::Bypass: return LatencyChart::tr("bypass");
    case Outcome::Limited: return LatencyChart::tr("limited (429)");
    case Outcome::Error: return LatencyChart::tr("error");
    case Outcome::Shadowed: return LatencyChart::tr("shadow");
    case Outcome::Invalidated: return LatencyChart::tr("invalidated");
    case Outcome::NotCached: return LatencyChart::tr("not cached");
    }
    return QString();
}

LatencyChart::LatencyChart(QWidget *parent)
    : QWidget(parent)
    , m_chart(new QChart)
{
    for (Outcome o : AllOutcomes) {
        const bool miss = o == Outcome::Miss || o == Outcome::Bypass;
        m_series[size_t(o)] = makeSeries(seriesName(o), o == Outcome::None ? otherColor() : colorOf(o),
            miss ? QScatterSeries::MarkerShapeRectangle : QScatterSeries::MarkerShapeCircle, miss ? 10 : 7);
    }

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
    for (QScatterSeries *s : m_series) {
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
    // The theme reset the colours.
    for (Outcome o : AllOutcomes) {
        const QColor color = o == Outcome::None ? otherColor() : colorOf(o);
        m_series[size_t(o)]->setColor(color);
        m_series[size_t(o)]->setBorderColor(color.darker(130));
    }

    m_view = new QChartView(m_chart, this);
    m_view->setRenderHint(QPainter::Antialiasing);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_view);
    m_startedMs = QDateTime::currentMSecsSinceEpoch();
    advance(m_startedMs);
}

void LatencyChart::addPoints(const QList<Point> &points)
{
    const double perMs = double(MaxPointsPerSeries) / double(m_spanMs);
    for (const Point &p : points) {
        Budget &budget = m_budget[size_t(p.outcome)];
        const double t = double(p.msSinceEpoch);
        budget.tokens = std::min(BurstPoints, budget.tokens + std::max(0.0, t - budget.atMs) * perMs);
        budget.atMs = std::max(budget.atMs, t);
        if (budget.tokens < 1)
            continue;
        budget.tokens -= 1;
        m_points[size_t(p.outcome)].append(QPointF(t, std::clamp(p.latencyMs, 0.012, 10000.0)));
    }
    for (QList<QPointF> &list : m_points) {
        if (list.size() > MaxPointsPerSeries)
            list.remove(0, list.size() - MaxPointsPerSeries);
    }
}

void LatencyChart::advance(qint64 now)
{
    // The axis ends on the next whole second. Until two minutes have passed it spans the time since
    // start (at least 20 s, so the first requests are not squeezed against its right edge), in
    // multiples of 4 s: its 5 ticks then fall on the whole seconds their labels (HH:mm:ss) show, and
    // a point sits at the time the log gives it.
    const qint64 end = (now / 1000 + 1) * 1000;
    const qint64 since = std::clamp(end - m_startedMs / 1000 * 1000, qint64(20000), m_spanMs);
    const qint64 from = end - (since + 3999) / 4000 * 4000;
    m_time->setRange(QDateTime::fromMSecsSinceEpoch(from), QDateTime::fromMSecsSinceEpoch(end));
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
    for (size_t k = 0; k < Series; ++k) {
        QScatterSeries *series = m_series[k];
        if (series->count() != m_points[k].size()
            || (!m_points[k].isEmpty() && series->at(series->count() - 1) != m_points[k].last()))
            series->replace(m_points[k]);
        // The legend names what the chart shows, and nothing else.
        const bool shown = !m_points[k].isEmpty();
        for (QLegendMarker *marker : m_chart->legend()->markers(series)) {
            if (marker->isVisible() != shown)
                marker->setVisible(shown);
        }
    }
}

int LatencyChart::pointCount() const
{
    int n = 0;
    for (const QScatterSeries *s : m_series)
        n += s->count();
    return n;
}

QStringList LatencyChart::legendNames() const
{
    QStringList names;
    for (const QScatterSeries *s : m_series) {
        const QList<QLegendMarker *> markers = m_chart->legend()->markers(const_cast<QScatterSeries *>(s));
        if (!markers.isEmpty() && markers.first()->isVisible())
            names << s->name();
    }
    return names;
}

} // namespace Cachedash
