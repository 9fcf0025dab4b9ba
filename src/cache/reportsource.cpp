// SPDX-License-Identifier: GPL-3.0-or-later
#include "reportsource.h"

using namespace std::chrono;

namespace Cachedash {

ReportSource::ReportSource(milliseconds delay, QObject *parent)
    : QObject(parent)
    , m_delay(delay)
{ }

ReportSource::~ReportSource()
{
    shutdown();
}

void ReportSource::setDelay(milliseconds delay)
{
    m_delay = std::max(delay, milliseconds::zero());
}

void ReportSource::shutdown()
{
    m_sleeper.cancelAll();
}

QCoro::Task<std::optional<Report>> ReportSource::compute(QString region)
{
    if (m_sleeper.isCancelled())
        co_return std::nullopt;
    ++m_computations;
    ++m_inFlight;
    const auto started = std::chrono::steady_clock::now();
    Sleeper::Wait wait = m_sleeper.sleep(m_delay);
    const bool elapsed = co_await wait;
    --m_inFlight;
    if (elapsed)
        m_times.observe(std::chrono::steady_clock::now() - started);
    if (!elapsed)
        co_return std::nullopt;
    co_return Report::compute(region, QDateTime::currentDateTimeUtc());
}

void ReportSource::writeMetrics(MetricsWriter &out) const
{
    out.single("cachedash_report_computations_total", "counter", "Slow report computations started.",
        double(m_computations));
    out.single(
        "cachedash_report_computations_in_flight", "gauge", "Report computations under way.", m_inFlight);
    out.family(
        "cachedash_report_computation_duration_seconds", "histogram", "How long report computations took.");
    out.histogram("cachedash_report_computation_duration_seconds", m_times);
}

} // namespace Cachedash
