// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "mixedload.h"

#include <QMap>
#include <QString>
#include <QStringList>

#include <vector>

namespace Cachedash::Test {

// Whether an answer is one the API documents for its request. `limiterDenies`: the limiter fails
// closed, so a report may be refused with 503 while Redis cannot decide. Empty when it is.
QString problemWith(const Exchange &e, bool limiterDenies);

// What a load's answers came to.
struct Tally
{
    int sent = 0;
    int answered = 0;
    int lost = 0;
    int late = 0; // answered after the bound
    int status500 = 0;
    int wrong = 0; // answers problemWith() refuses (500s included)
    double maxLatencyMs[3] = {0, 0, 0}; // by RequestKind
    QMap<QString, int> outcomes; // "GET /reports/{region} 200 HIT" -> count
    QStringList examples; // the first few lost, late or wrong answers

    double maxLatency() const;
    QString outcomesText() const;
};

// Tallies a load's exchanges; an answer that took longer than boundMs is late.
Tally tallyOf(const MixedLoad &load, bool limiterDenies, qint64 boundMs);

// The checks every load makes: each request got exactly one answer, the right one, in time, and
// no 500. Prints the first examples of what went wrong. Callers return if the test failed.
void checkEveryAnswer(const Tally &tally, const MixedLoad &load);

// The invalidation invariant: no report that a refresh acknowledged comes back from the cache.
//
// A refresh deletes the report and its fill lease in Redis at some moment tDel, after the refresh was
// sent (sentR) and before its answer arrived (ackR). From the cache's design, a report stored after
// tDel was computed by a fill that took its lease after tDel (a fill that took it before lost it to
// the delete, and its write is refused), then waited the whole report delay D on a precise timer
// before stamping generated_at. So every report served from the cache to a request sent after ackR
// has generated_at >= tDel + D > sentR + D; in words, it was computed by a computation that began
// after the refresh was sent. A report computed before the refresh, or by a computation under way
// when it came (whose write the refresh cancels), has generated_at < tDel + D.
//
// Clocks: generated_at and sentR are both this machine's wall clock (the service runs in this
// process), truncated to ms, which costs at most 1 ms; the timer runs on the monotonic clock, which
// may drift from the wall clock by NTP's slew (<= 0.5 ms/s): kClockMarginMs covers both. The
// order "request sent after the refresh was acknowledged" is taken on the monotonic clock.
//
// Tightness: tDel itself is unknown, only sentR <= tDel <= ackR. A report generated before tDel has
// generated_at < tDel <= ackR, so it fails the check whenever ackR - sentR <= D - margin: such
// refreshes are "covered" (counted and printed; on loopback a refresh takes about a millisecond). A
// report whose computation was under way at tDel fails it unless that computation began within the
// refresh's own round trip. Among several refreshes acknowledged before a request, the one sent last
// gives the highest floor.
struct InvalidationCheck
{
    int refreshes = 0; // acknowledged (200) refreshes
    int covered = 0; // ... answered within D - margin: any stale report after them would show
    int checked = 0; // cached answers to requests sent after an acknowledged refresh of their region
    int violations = 0;
    QStringList examples; // the first few violations
};

constexpr qint64 kClockMarginMs = 2;

InvalidationCheck checkInvalidation(const std::vector<Exchange> &exchanges, qint64 reportDelayMs);

} // namespace Cachedash::Test
