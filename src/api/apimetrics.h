// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "apirequest.h"
#include "outcome.h"

#include "common/histogram.h"
#include "common/metrics.h"

#include <QHash>

#include <array>
#include <chrono>

namespace Cachedash {

class HttpServer;

// The API's own figures: answers by route and status, how long they took, and the reports'
// outcomes; with the transport's connection counts, the cachedash_http_* and
// cachedash_cache_requests_total families of /metrics.
class ApiMetrics
{
public:
    void count(Route route, int status, std::chrono::nanoseconds took, Outcome outcome);

    void write(MetricsWriter &out, const HttpServer &transport, int inFlight) const;

private:
    std::array<QHash<int, quint64>, RouteCount> m_answers;
    std::array<Histogram, RouteCount> m_durations;
    std::array<quint64, AllOutcomes.size()> m_outcomes{};
};

} // namespace Cachedash
