// SPDX-License-Identifier: GPL-3.0-or-later
#include "limiterwindowwidget.h"

#include "outcomecolors.h"

#include <QPainter>
#include <QPainterPath>

namespace Cachedash {

LimiterWindowWidget::LimiterWindowWidget(QWidget *parent)
    : QWidget(parent)
{
    m_sinceSnapshot.start();
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
}

QSize LimiterWindowWidget::sizeHint() const
{
    return {320, 110};
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

qint64 LimiterWindowWidget::nowMs() const
{
    return m_redisNowMs + m_sinceSnapshot.elapsed();
}

int LimiterWindowWidget::used() const
{
    const qint64 now = nowMs();
    int expired = 0;
    for (qint64 t : m_entries)
        expired += t <= now - m_windowMs;
    // When only the oldest and the newest entries are listed, the unlisted ones lie between them.
    if (m_total > m_entries.size() && expired > 1)
        return int(std::max<qint64>(0, m_entries.size() - expired));
    return int(m_total - expired);
}

qint64 LimiterWindowWidget::nextSlotInMs() const
{
    if (used() < m_limit)
        return 0;
    const qint64 now = nowMs();
    for (qint64 t : m_entries) {
        if (t > now - m_windowMs)
            return t + m_windowMs - now;
    }
    return 0;
}

void LimiterWindowWidget::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QPalette pal = palette();
    const QRectF area = QRectF(rect()).adjusted(12, 8, -12, -24);
    const qint64 now = nowMs();
    const qint64 start = now - m_windowMs;
    auto xOf = [&](qint64 t) { return area.left() + area.width() * double(t - start) / double(m_windowMs); };

    // The window, with a tick per second.
    p.setPen(QPen(pal.color(QPalette::Mid), 1));
    p.setBrush(pal.color(QPalette::AlternateBase));
    p.drawRoundedRect(area, 6, 6);
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    p.setFont(small);
    p.setPen(pal.color(QPalette::PlaceholderText));
    const qint64 seconds = m_windowMs / 1000;
    for (qint64 s = 0; s <= seconds; ++s) {
        const double x = area.left() + area.width() * double(s * 1000) / double(m_windowMs);
        p.drawLine(QPointF(x, area.bottom()), QPointF(x, area.bottom() + 4));
        if (s == 0 || s == seconds || s % 2 == 0) {
            const QString label = s == seconds ? tr("now") : QStringLiteral("−%1 s").arg(seconds - s);
            p.drawText(QRectF(x - 30, area.bottom() + 4, 60, 16), Qt::AlignHCenter | Qt::AlignTop, label);
        }
    }

    // The entries: the one that leaves next is highlighted with its countdown.
    const int inWindow = used();
    const bool full = inWindow >= m_limit;
    const double radius = std::min(8.0, area.height() / 7);
    bool first = true;
    // Entries closer than a dot's width are stacked, as high as the window allows; what does not
    // fit (a permissive limiter under load) is counted above its column.
    const int maxStack = 2 * std::max(0, int((area.height() / 2 - radius) / (radius * 2.1)));
    double previousX = -1e9;
    int stack = 0;
    int hidden = 0;
    auto showHidden = [&] {
        if (hidden == 0)
            return;
        p.setPen(pal.color(QPalette::Text));
        const double labelX = std::clamp(previousX - 40, area.left() + 2, area.right() - 82);
        p.drawText(
            QRectF(labelX, area.bottom() - 16, 80, 16), Qt::AlignHCenter, QStringLiteral("+%1").arg(hidden));
        hidden = 0;
    };
    for (qint64 t : m_entries) {
        if (t <= start)
            continue;
        const double x = xOf(t);
        if (x - previousX < radius * 1.6) {
            ++stack;
        } else {
            showHidden();
            stack = 0;
        }
        previousX = x;
        if (stack > maxStack) {
            ++hidden;
            continue;
        }
        const double offset = (stack % 2 ? -1 : 1) * ((stack + 1) / 2) * radius * 2.1;
        const QPointF c(x, area.center().y() + offset);
        const bool leavesNext = first;
        first = false;
        // Every dot is an admitted request (green); when the window is full, the one that leaves
        // next (and so decides Retry-After) is amber.
        QColor fill = colorOf(Outcome::Hit);
        if (leavesNext && full)
            fill = colorOf(Outcome::Miss);
        p.setPen(QPen(pal.color(QPalette::Base), 2));
        p.setBrush(fill);
        p.drawEllipse(c, radius, radius);
        if (leavesNext && full) {
            const qint64 left = t + m_windowMs - now;
            p.setPen(pal.color(QPalette::Text));
            const double labelX = std::clamp(c.x() - 45, area.left() + 2, area.right() - 92);
            p.drawText(QRectF(labelX, area.top() + 2, 90, 16), Qt::AlignHCenter,
                QStringLiteral("leaves in %1 s").arg(double(left) / 1000.0, 0, 'f', 1));
        }
    }
    showHidden();
}

} // namespace Cachedash
