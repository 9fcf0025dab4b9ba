// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QMetaType>

#include <array>

namespace Cachedash {

// What became of a request, as the X-Cache header, the access log, the metrics and the window name
// it. Routes without a cache answer with None, unless they fail (Error).
enum class Outcome : quint8 {
    None, // not a report: /healthz, a refresh that succeeded, ...
    Hit, // served from Redis, fresh
    Stale, // served from Redis past its TTL, while one request recomputes it
    Miss, // computed (or another request's computation shared) and stored
    Bypass, // Redis did not answer: computed and not stored
    Limited, // refused by the rate limiter (429), or the limiter could not decide (503)
    Error, // any other failure: bad input, an overloaded or shutting-down service
    Shadowed, // served, though a limit would have refused it (--rate-limit-mode shadow)
    Invalidated, // a refresh that deleted a stored report
    NotCached, // a refresh that found no stored report to delete
};

inline constexpr std::array<Outcome, 10> AllOutcomes{Outcome::None, Outcome::Hit, Outcome::Stale,
    Outcome::Miss, Outcome::Bypass, Outcome::Limited, Outcome::Error, Outcome::Shadowed, Outcome::Invalidated,
    Outcome::NotCached};

// Whether `outcome` is one a report request can have (cachedash_cache_requests_total counts those).
constexpr bool isReportOutcome(Outcome outcome)
{
    return outcome != Outcome::None && outcome != Outcome::Invalidated && outcome != Outcome::NotCached;
}

// "HIT", "STALE", "MISS", "BYPASS", "LIMITED", "ERROR", "SHADOW", "INVALIDATED", "NOT-CACHED"; empty
// for None. Static text: no allocation.
QByteArray outcomeName(Outcome outcome);

} // namespace Cachedash

Q_DECLARE_METATYPE(Cachedash::Outcome)
