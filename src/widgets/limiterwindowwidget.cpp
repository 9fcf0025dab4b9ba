// SPDX-License-Identifier: GPL-3.0-or-later
#include "limiterwindowwidget.h"

#include "outcomecolors.h"

#include <QPainter>
#include <QPainterPath>

#include <cmath>

namespace Cachedash {

namespace {

constexpr double LaneHeight = 58;
constexpr double AxisHeight = 18;

qint64 ceilDiv(qint64 a, qint64 b)
{
    return (a + b - 1) / b;
}

// A sliding-window counter's state moved on to a later time: the counts roll when a window ends.
struct CounterNow
{
    qint64 current = 0;
    qint64 previous = 0;
    qint64 elapsed = 0; // ms into the current window
};

CounterNow counterAt(const RateLimitState &s, qint64 later)
{
    const qint64 w = s.limit.windowMs().count();
    CounterNow c{s.kept[0], s.kept[1], s.kept[2] + later};
    while (c.elapsed >= w) {
        c.previous = c.elapsed < 2 * w ? c.current : 0;
        c.current = 0;
        c.elapsed -= w;
    }
    return c;
}

// Milliseconds until previous * (W - e) + current * W < m * W, as the script computes it.
qint64 counterWait(const CounterNow &c, qint64 w, qint64 m)
{
    if (c.previous * (w - c.elapsed) + c.current * w < m * w)
        return 0;
    if (c.current < m && c.previous > 0) {
        const qint64 at = w - ceilDiv((m - c.current) * w, c.previous) + 1;
        if (at < w)
            return at - c.elapsed;
    }
    const qint64 at = c.current > 0 ? std::max<qint64>(0, w - ceilDiv(m * w, c.current) + 1) : 0;
    return w - c.elapsed + at;
}

} // namespace

LimiterWindowWidget::LimiterWindowWidget(QWidget *parent)
    : QWidget(parent)
{
    m_sinceSnapshot.start();
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
}

QSize LimiterWindowWidget::sizeHint() const
{
    return {320, int(16 + lanes() * LaneHeight + AxisHeight)};
}

QSize LimiterWindowWidget::minimumSizeHint() const
{
    return {200, sizeHint().height()};
}

void LimiterWindowWidget::setWindow(
    const QList<qint64> &entries, qint64 total, qint64 redisNowMs, int limit, qint64 windowMs)
{
    m_entries = entries;
    m_total = std::max<qint64>(total, entries.size());
    m_redisNowMs = redisNowMs;
    m_limit = limit;
    m_windowMs = std::max<qint64>(windowMs, 1);
    m_sinceSnapshot.restart();
    update();
}

void LimiterWindowWidget::setLimits(
    RateAlgorithm algorithm, const QList<RateLimitState> &limits, qint64 readAtUs)
{
    const bool resized = limits.size() != m_limits.size();
    m_algorithm = algorithm;
    m_limits = limits;
    if (readAtUs > 0)
        m_redisNowMs = readAtUs / 1000;
    m_sinceSnapshot.restart();
    if (resized)
        updateGeometry();
    update();
}

qint64 LimiterWindowWidget::nowMs() const
{
    return m_redisNowMs + elapsedMs();
}

qint64 LimiterWindowWidget::laneWindowMs(int lane) const
{
    return lane < m_limits.size() ? qint64(m_limits[lane].limit.windowMs().count()) : m_windowMs;
}

int LimiterWindowWidget::limitOf(int lane) const
{
    return lane < m_limits.size() ? m_limits[lane].limit.limit : m_limit;
}

int LimiterWindowWidget::used(int lane) const
{
    const int limit = limitOf(lane);
    if (m_algorithm == RateAlgorithm::SlidingLog || lane >= m_limits.size()) {
        const qint64 window = laneWindowMs(lane);
        const qint64 now = nowMs();
        int inside = 0;
        for (qint64 t : m_entries)
            inside += t > now - window;
        // When only the oldest and the newest entries are listed, the unlisted ones lie between:
        // the peek's count holds, less what has left since.
        if (m_total > m_entries.size() && lane < m_limits.size())
            return std::max(inside, m_limits[lane].used - int(m_entries.size()) + inside);
        return inside;
    }
    const RateLimitState &s = m_limits[lane];
    if (m_algorithm == RateAlgorithm::Gcra) {
        const qint64 tatAhead = std::max<qint64>(0, s.kept[0] - elapsedMs() * 1000);
        const qint64 x = s.kept[2] - tatAhead;
        const int remaining
            = x < 0 ? 0 : int(std::min<qint64>(limit, x / std::max<qint64>(1, s.kept[1]) + 1));
        return limit - remaining;
    }
    const CounterNow c = counterAt(s, elapsedMs());
    const qint64 w = s.limit.windowMs().count();
    const qint64 x = qint64(limit) * w - c.current * w - c.previous * (w - c.elapsed);
    return limit - int(x > 0 ? ceilDiv(x, w) : 0);
}

qint64 LimiterWindowWidget::nextSlotInMs(int lane) const
{
    const int limit = limitOf(lane);
    const int inUse = used(lane);
    if (inUse < limit)
        return 0;
    if (m_algorithm == RateAlgorithm::SlidingLog || lane >= m_limits.size()) {
        const qint64 window = laneWindowMs(lane);
        const qint64 now = nowMs();
        int seen = 0;
        for (qint64 t : m_entries) {
            if (t > now - window && seen++ == inUse - limit)
                return t + window - now;
        }
        return 0;
    }
    const RateLimitState &s = m_limits[lane];
    if (m_algorithm == RateAlgorithm::Gcra) {
        const qint64 tatAhead = std::max<qint64>(0, s.kept[0] - elapsedMs() * 1000);
        return ceilDiv(std::max<qint64>(0, tatAhead - s.kept[2]), 1000);
    }
    return counterWait(counterAt(s, elapsedMs()), s.limit.windowMs().count(), limit);
}

qint64 LimiterWindowWidget::retryInMs() const
{
    qint64 wait = 0;
    for (int lane = 0; lane < lanes(); ++lane)
        wait = std::max(wait, nextSlotInMs(lane));
    return wait;
}

int LimiterWindowWidget::bindingLane() const
{
    int best = 0;
    for (int lane = 1; lane < lanes(); ++lane) {
        const qint64 wait = nextSlotInMs(lane);
        const qint64 bestWait = nextSlotInMs(best);
        if (wait > bestWait || (wait == bestWait && limitOf(lane) - used(lane) < limitOf(best) - used(best)))
            best = lane;
    }
    return best;
}

QString LimiterWindowWidget::laneTitle(int lane) const
{
    const QString name = lane < m_limits.size()
        ? m_limits[lane].limit.text()
        : QStringLiteral("%1/%2s").arg(m_limit).arg(m_windowMs / 1000);
    const qint64 wait = nextSlotInMs(lane);
    QString state = tr("%1 of %2 used").arg(used(lane)).arg(limitOf(lane));
    if (wait > 0)
        state += tr(" · admits again in %1 s").arg(double(wait) / 1000.0, 0, 'f', 1);
    if (m_algorithm == RateAlgorithm::Gcra && lane < m_limits.size()) {
        const RateLimitState &s = m_limits[lane];
        const double tatAhead = std::max<double>(0, double(s.kept[0]) - double(elapsedMs()) * 1000);
        state += tr(" · TAT now+%1 s, τ %2 s, T %3 s")
                     .arg(tatAhead / 1e6, 0, 'f', 1)
                     .arg(double(s.kept[2]) / 1e6, 0, 'f', 1)
                     .arg(double(s.kept[1]) / 1e6, 0, 'f', 2);
    }
    if (m_algorithm == RateAlgorithm::SlidingWindowCounter && lane < m_limits.size()) {
        const CounterNow c = counterAt(m_limits[lane], elapsedMs());
        const qint64 w = m_limits[lane].limit.windowMs().count();
        state += tr(" · estimate %1")
                     .arg(double(c.previous) * double(w - c.elapsed) / double(w) + double(c.current), 0, 'f',
                         2);
    }
    return name + QStringLiteral(" · ") + state;
}

void LimiterWindowWidget::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QPalette pal = palette();
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    // Each lane as tall as it can be, up to LaneHeight, when the layout gives less than asked.
    const double laneHeight = std::clamp((height() - 8 - AxisHeight) / lanes(), 34.0, LaneHeight);
    for (int lane = 0; lane < lanes(); ++lane) {
        const double top = 4 + lane * laneHeight;
        p.setFont(small);
        p.setPen(pal.color(QPalette::Text));
        p.drawText(QRectF(12, top, width() - 24, 16), Qt::AlignLeft | Qt::AlignVCenter, laneTitle(lane));
        const QRectF area(12, top + 17, width() - 24, laneHeight - 22);
        p.setPen(QPen(pal.color(QPalette::Mid), 1));
        p.setBrush(pal.color(QPalette::AlternateBase));
        p.drawRoundedRect(area, 5, 5);
        if (m_algorithm == RateAlgorithm::Gcra && lane < m_limits.size())
            paintGcra(p, area, lane);
        else if (m_algorithm == RateAlgorithm::SlidingWindowCounter && lane < m_limits.size())
            paintCounter(p, area, lane);
        else
            paintLog(p, area, lane);
    }
    // The axis of the first lane: seconds before now (the log), or after it (GCRA's TAT).
    const double axisTop = 4 + lanes() * laneHeight - 4;
    const QRectF axis(12, axisTop, width() - 24, AxisHeight);
    p.setFont(small);
    p.setPen(pal.color(QPalette::PlaceholderText));
    QString legend;
    switch (m_algorithm) {
    case RateAlgorithm::SlidingLog:
        legend = tr("dots: admitted (+n: more), now at right · ringed: leaves next");
        break;
    case RateAlgorithm::Gcra: legend = tr("bar: TAT ahead of now · line: τ, past which requests wait"); break;
    case RateAlgorithm::SlidingWindowCounter:
        legend = tr("previous and current fixed windows · shaded: the sliding window");
        break;
    }
    p.drawText(axis, Qt::AlignLeft | Qt::AlignVCenter, legend);
}

void LimiterWindowWidget::paintLog(QPainter &p, const QRectF &area, int lane) const
{
    const QPalette pal = palette();
    const qint64 window = laneWindowMs(lane);
    const qint64 now = nowMs();
    const qint64 start = now - window;
    auto xOf = [&](qint64 t) { return area.left() + area.width() * double(t - start) / double(window); };
    const double radius = std::min(6.0, area.height() / 5);
    const int maxStack = 2 * std::max(0, int((area.height() / 2 - radius) / (radius * 2.1)));
    const int inUse = used(lane);
    const bool full = inUse >= limitOf(lane);
    const int leaving = full ? inUse - limitOf(lane) : 0; // the in-window entry whose leaving admits
    double previousX = -1e9;
    int stack = 0;
    int hidden = 0;
    int index = 0;
    auto showHidden = [&] {
        if (hidden == 0)
            return;
        p.setPen(pal.color(QPalette::Text));
        const double labelX = std::clamp(previousX - 40, area.left() + 2, area.right() - 82);
        p.drawText(
            QRectF(labelX, area.bottom() - 14, 80, 14), Qt::AlignHCenter, QStringLiteral("+%1").arg(hidden));
        hidden = 0;
    };
    for (qint64 t : m_entries) {
        if (t <= start)
            continue;
        const double x = xOf(t);
        const bool next = full && index++ == leaving;
        if (x - previousX < radius * 1.6) {
            ++stack;
        } else {
            showHidden();
            stack = 0;
        }
        previousX = x;
        if (stack > maxStack && !next) {
            ++hidden;
            continue;
        }
        const double offset = (stack % 2 ? -1 : 1) * ((stack + 1) / 2) * radius * 2.1;
        const QPointF c(x, area.center().y() + offset);
        p.setPen(QPen(pal.color(QPalette::Base), 1.5));
        p.setBrush(admittedColor());
        p.drawEllipse(c, radius, radius);
        if (next) {
            // The entry whose leaving admits the next request: ringed, with its countdown.
            p.setPen(QPen(pal.color(QPalette::Text), 2));
            p.setBrush(Qt::NoBrush);
            p.drawEllipse(c, radius + 3, radius + 3);
            const double labelX = std::clamp(c.x() - 45, area.left() + 2, area.right() - 92);
            p.drawText(QRectF(labelX, area.top() + 1, 90, 14), Qt::AlignHCenter,
                tr("leaves in %1 s").arg(double(t + window - now) / 1000.0, 0, 'f', 1));
        }
    }
    showHidden();
}

void LimiterWindowWidget::paintGcra(QPainter &p, const QRectF &area, int lane) const
{
    const QPalette pal = palette();
    const RateLimitState &s = m_limits[lane];
    const double windowUs = double(s.limit.windowMs().count()) * 1000;
    const double tatAhead = std::max<double>(0, double(s.kept[0]) - double(elapsedMs()) * 1000);
    const double tolerance = double(s.kept[2]);
    auto xOf = [&](double us) { return area.left() + area.width() * std::min(1.0, us / windowUs); };
    // The TAT's lead over now, in emission intervals: every admission pushes it one T further.
    const QRectF bar(area.left(), area.top() + 6, xOf(tatAhead) - area.left(), area.height() - 12);
    p.setPen(Qt::NoPen);
    p.setBrush(tatAhead > tolerance ? colorOf(Outcome::Limited) : admittedColor());
    p.drawRoundedRect(bar, 3, 3);
    p.setPen(QPen(pal.color(QPalette::Text), 1.5, Qt::DashLine));
    const double tauX = xOf(tolerance);
    p.drawLine(QPointF(tauX, area.top() + 2), QPointF(tauX, area.bottom() - 2));
    p.setPen(pal.color(QPalette::Text));
    p.drawText(QRectF(tauX + 3, area.top(), 16, area.height()), Qt::AlignLeft | Qt::AlignVCenter,
        QStringLiteral("τ"));
}

void LimiterWindowWidget::paintCounter(QPainter &p, const QRectF &area, int lane) const
{
    const QPalette pal = palette();
    const RateLimitState &s = m_limits[lane];
    const qint64 w = s.limit.windowMs().count();
    const CounterNow c = counterAt(s, elapsedMs());
    const int limit = limitOf(lane);
    // Two fixed windows side by side, previous then current; each count as a bar of its height.
    const double half = area.width() / 2;
    const QRectF previous(area.left(), area.top(), half, area.height());
    const QRectF current(area.left() + half, area.top(), half, area.height());
    auto drawCount = [&](const QRectF &box, qint64 count, const QString &name) {
        const double h = (box.height() - 6) * std::min(1.0, double(count) / double(std::max(1, limit)));
        p.setPen(Qt::NoPen);
        p.setBrush(admittedColor());
        p.drawRect(QRectF(box.left() + 4, box.bottom() - 3 - h, 14, h));
        p.setPen(pal.color(QPalette::Text));
        p.drawText(
            box.adjusted(22, 0, -4, 0), Qt::AlignLeft | Qt::AlignVCenter, tr("%1: %2").arg(name).arg(count));
    };
    drawCount(previous, c.previous, tr("previous"));
    drawCount(current, c.current, tr("current"));
    // The sliding window: the last W, which covers (W - e) / W of the previous window.
    const double nowX = current.left() + half * double(c.elapsed) / double(w);
    QColor shade = pal.color(QPalette::Highlight);
    shade.setAlpha(50);
    p.setPen(Qt::NoPen);
    p.setBrush(shade);
    p.drawRect(QRectF(nowX - half, area.top() + 1, half, area.height() - 2));
    p.setPen(QPen(pal.color(QPalette::Text), 1.5));
    p.drawLine(QPointF(nowX, area.top()), QPointF(nowX, area.bottom()));
    p.drawLine(QPointF(current.left(), area.top()), QPointF(current.left(), area.bottom()));
}

} // namespace Cachedash
