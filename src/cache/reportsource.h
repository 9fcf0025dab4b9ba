// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "common/sleeper.h"
#include "report.h"

#include "common/histogram.h"
#include "common/metrics.h"

#include <QObject>

#include <qcoro/qcorotask.h>

#include <chrono>

namespace Cachedash {

// The deliberately slow report computation that the cache stands in front of. It waits on a timer,
// never blocking the event loop, so any number of computations overlap.
class ReportSource : public QObject, public MetricsSource
{
    Q_OBJECT

public:
    explicit ReportSource(std::chrono::milliseconds delay, QObject *parent = nullptr);
    ~ReportSource() override;

    std::chrono::milliseconds delay() const { return m_delay; }
    void setDelay(std::chrono::milliseconds delay);

    // The report after the delay, or nothing when the source is shut down meanwhile.
    QCoro::Task<std::optional<Report>> compute(QString region);

    // Computations under way.
    int inFlight() const { return m_inFlight; }
    quint64 computations() const { return m_computations; }
    // cachedash_report_computation*: computations started, under way, and how long they took.
    void writeMetrics(MetricsWriter &out) const override;

    // Ends every computation in flight at once (they yield nothing) and refuses new ones.
    void shutdown();

    // The source's clock: every timed wait in the cache layer uses it, so shutdown() ends them all.
    Sleeper &sleeper() { return m_sleeper; }

private:
    std::chrono::milliseconds m_delay;
    Sleeper m_sleeper;
    quint64 m_computations = 0;
    int m_inFlight = 0;
    Histogram m_times;
};

} // namespace Cachedash
