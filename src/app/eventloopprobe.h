// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "latencystats.h"

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

namespace Cachedash {

// Measures how late the event loop it lives on runs a 20 ms timer: a stall of the loop shows as
// lateness. Keeps p50/p99/max of the recent lateness, and warns about stalls over 300 ms.
class EventLoopProbe : public QObject
{
    Q_OBJECT

public:
    explicit EventLoopProbe(QObject *parent = nullptr);

    double p50() const { return m_lateness.percentile(50); }
    double p99() const { return m_lateness.percentile(99); }
    double worst() const { return m_worst; }
    int samples() const { return m_lateness.count(); }

private:
    void onTick();

    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_expected = 0;
    LatencyStats m_lateness{6000};
    double m_worst = 0;
};

} // namespace Cachedash
