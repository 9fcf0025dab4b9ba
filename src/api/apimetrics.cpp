// SPDX-License-Identifier: GPL-3.0-or-later
#include "apimetrics.h"

#include "http/httpserver.h"

#include <algorithm>

namespace Cachedash {

const char *routeName(Route route)
{
    static const char *const names[RouteCount]
        = {"reports", "refresh", "ratelimit", "healthz", "livez", "metrics", "other"};
    return names[size_t(route)];
}

void ApiMetrics::count(Route route, int status, std::chrono::nanoseconds took, Outcome outcome)
{
    ++m_answers[size_t(route)][status];
    m_durations[size_t(route)].observe(took);
    if (route == Route::Reports && isReportOutcome(outcome))
        ++m_outcomes[size_t(outcome)];
}

void ApiMetrics::write(MetricsWriter &out, const HttpServer &transport, int inFlight) const
{
    out.family("cachedash_http_requests_total", "counter", "HTTP answers by route and status.");
    for (size_t r = 0; r < RouteCount; ++r) {
        QList<int> statuses = m_answers[r].keys();
        std::sort(statuses.begin(), statuses.end());
        const QByteArray route = MetricsWriter::label("route", routeName(Route(r)));
        for (int status : statuses)
            out.sample("cachedash_http_requests_total",
                QByteArray(route + ',' + MetricsWriter::label("status", QByteArray::number(status))),
                double(m_answers[r].value(status)));
    }
    out.family("cachedash_http_request_duration_seconds", "histogram",
        "Time from reading a request to writing its answer.");
    for (size_t r = 0; r < RouteCount; ++r) {
        if (m_durations[r].count() > 0)
            out.histogram("cachedash_http_request_duration_seconds", m_durations[r],
                MetricsWriter::label("route", routeName(Route(r))));
    }
    out.single("cachedash_http_requests_in_flight", "gauge", "Requests read and not answered yet.", inFlight);

    const HttpServer::Counters &connections = transport.counters();
    out.single(
        "cachedash_http_connections_open", "gauge", "HTTP connections open.", transport.connectionCount());
    out.family("cachedash_http_connections_total", "counter",
        "HTTP connections: accepted; refused (503, all busy at the cap); evicted (idle, closed to make "
        "room); timed_out (a request did not arrive whole in time).");
    out.sample("cachedash_http_connections_total", "event=\"accepted\"", double(connections.accepted));
    out.sample("cachedash_http_connections_total", "event=\"refused\"", double(connections.refused));
    out.sample("cachedash_http_connections_total", "event=\"evicted\"", double(connections.evicted));
    out.sample("cachedash_http_connections_total", "event=\"timed_out\"", double(connections.timedOut));

    out.family("cachedash_cache_requests_total", "counter", "Report requests by cache outcome.");
    for (Outcome outcome : AllOutcomes) {
        if (isReportOutcome(outcome))
            out.sample("cachedash_cache_requests_total",
                MetricsWriter::label("outcome", outcomeName(outcome).toLower()),
                double(m_outcomes[size_t(outcome)]));
    }
}

} // namespace Cachedash
