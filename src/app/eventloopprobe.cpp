// SPDX-License-Identifier: GPL-3.0-or-later
#include "eventloopprobe.h"

#include "applogging.h"

namespace Cachedash {

namespace {
constexpr int IntervalMs = 20;
}

EventLoopProbe::EventLoopProbe(QObject *parent)
    : QObject(parent)
{
    m_timer.setTimerType(Qt::PreciseTimer);
    m_timer.setInterval(IntervalMs);
    connect(&m_timer, &QTimer::timeout, this, &EventLoopProbe::onTick);
    m_clock.start();
    m_expected = IntervalMs;
    m_timer.start();
}

void EventLoopProbe::onTick()
{
    const qint64 now = m_clock.elapsed();
    const double late = double(std::max<qint64>(0, now - m_expected));
    m_lateness.add(late);
    m_worst = std::max(m_worst, late);
    if (late > 300)
        qCWarning(lcApp, "the window's event loop was blocked for %.0f ms", late);
    m_expected = now + IntervalMs;
}

} // namespace Cachedash
