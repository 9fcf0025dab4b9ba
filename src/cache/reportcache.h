// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "report.h"

#include "common/metrics.h"
#include "redis/redisscript.h"

#include <QByteArray>
#include <QHash>
#include <QSet>
#include <QString>

#include <qcoro/qcorotask.h>

#include <chrono>
#include <memory>

namespace Cachedash {

class RedisRouter;
class ReportSource;
namespace detail {
template<typename T>
class Flight;
}

// What a cache read found.
struct CacheRead
{
    enum class Outcome {
        Hit, // a valid, fresh report
        Stale, // a valid report past its TTL but inside the stale-while-revalidate grace
        Miss, // nothing stored
        Corrupt, // something stored that is not a valid report of this region: treated as a miss
        Unavailable, // Redis did not answer: the cache is bypassed
    };
    Outcome outcome = Outcome::Miss;
    Report report; // on Hit and Stale
    QByteArray stored; // on Hit and Stale: the bytes as stored (toJson(false))
    QByteArray servedJson; // on Hit and Stale: the report as served from the cache (toJson(true))
    QByteArray fingerprint; // on Hit and Stale: fingerprint(stored)
    std::chrono::milliseconds freshFor{0}; // on Hit: how long the entry stays fresh
    QString problem; // on Corrupt and Unavailable: why
};

// What filling the cache gave.
struct CacheFill
{
    enum class Outcome {
        Computed, // this request's computation, stored if the lease still held
        Shared, // another request's computation, in this process or another
        Bypass, // Redis unavailable: computed directly, not stored
        Cancelled, // the service shut down first
        Overloaded, // maxComputations reports were under way already: nothing was started
    };
    Outcome outcome = Outcome::Cancelled;
    Report report;
    QByteArray stored;
    std::chrono::milliseconds freshFor{0};
};

// Cache-aside over Redis for reports: report:{region} holds the report's JSON, written with SET ... EX.
//
// Concurrent misses of a region compute it once. In this process they share one flight; across
// processes sharing the Redis, the flight's leader takes a lease (SET {report:region}:lease NX PX,
// in the report's own cluster slot)
// and the others wait for its report, or take over when the lease expires. The report is written by
// a script that checks the lease token, so a refresh that deletes the lease mid-computation wins.
class ReportCache : public MetricsSource
{
public:
    struct Settings
    {
        std::chrono::seconds ttl{30};
        std::chrono::seconds ttlJitter{0}; // each write lives ttl + a random 0..ttlJitter
        std::chrono::seconds staleWhileRevalidate{0}; // grace during which an expired report is served
        // Distinct reports computed (or awaited from another process) at once; 0: no cap. A miss
        // that would start one more gets Overloaded; joining one under way is always possible.
        int maxComputations = 0;
    };

    struct Counters
    {
        quint64 corrupt = 0; // invalid entries found
        quint64 writes = 0; // reports stored
        quint64 writesDiscarded = 0; // computations whose write a refresh cancelled
        quint64 shared = 0; // misses answered by another request's computation
        quint64 revalidations = 0; // background recomputations of stale reports
    };

    ReportCache(RedisRouter &redis, ReportSource &source, Settings settings);
    ~ReportCache();

    const Settings &settings() const { return m_settings; }
    void setSettings(const Settings &settings) { m_settings = settings; }
    const Counters &counters() const { return m_counters; }
    // cachedash_cache_*: writes, discarded writes, shared misses, corrupt entries, revalidations.
    void writeMetrics(MetricsWriter &out) const override;

    // The keys of a region that validateRegion() accepted (region.h): nothing else belongs in a key.
    static QByteArray keyFor(const QString &region);
    static QByteArray leaseKeyFor(const QString &region);
    // A short hash of a stored report's bytes (for ETags): equal bytes, equal fingerprint.
    static QByteArray fingerprint(const QByteArray &stored);

    // GET and PTTL of the report's key. Both are sent before this returns, so they share a round
    // trip with what was sent just before. Reads of a region issued before those commands leave
    // (one turn of the event loop) share them.
    QCoro::Task<CacheRead> read(QString region);
    // Computes and stores the report after a miss, once for all concurrent callers.
    QCoro::Task<CacheFill> fill(QString region);
    // Computes the report without touching the cache (for when Redis is unavailable), once for
    // all concurrent callers.
    QCoro::Task<CacheFill> bypass(QString region);
    // Reports being computed or awaited now, counted against Settings::maxComputations.
    int computationsUnderWay() const
    {
        return int(m_flights.size() + m_bypassFlights.size() + m_revalidating.size());
    }
    // Recomputes a stale report in the background, unless that is already under way here or in
    // another process.
    void revalidate(const QString &region);
    // Deletes the report and any fill lease: true if a stored report was deleted. `fillCancelled`
    // tells whether a computation in flight lost its right to write.
    struct Invalidation
    {
        bool deleted = false;
        bool fillCancelled = false;
    };
    QCoro::Task<std::optional<Invalidation>> invalidate(QString region);

private:
    using Flight = detail::Flight<CacheFill>;
    using ReadFlight = detail::Flight<CacheRead>;

    QCoro::Task<CacheRead> lookUp(QString region);
    QCoro::Task<CacheFill> lead(QString region, bool waitForOthers);
    QCoro::Task<CacheFill> computeUncached(QString region);
    // One computation per region for all concurrent callers: through the cache (fill) or around it
    // (bypass), each with its own flights.
    QCoro::Task<CacheFill> flyOnce(QString region, bool cached);
    QCoro::Task<CacheFill> startFlight(QString region, bool cached);
    bool atCapacity() const
    {
        return m_settings.maxComputations > 0 && computationsUnderWay() >= m_settings.maxComputations;
    }
    QCoro::Task<> revalidateInBackground(QString region);
    // Gives up this process's lease after a computation that stored nothing (see lease_release.lua).
    QCoro::Task<> releaseLease(QByteArray leaseKey, QByteArray token);
    std::chrono::milliseconds leaseTtl() const;
    std::chrono::seconds writeTtl() const;

    RedisRouter &m_redis;
    ReportSource &m_source;
    Settings m_settings;
    RedisScript m_fillScript;
    RedisScript m_releaseScript;
    // The last validated value per region: a hit whose bytes are unchanged skips parsing and
    // validation, and reuses the served JSON. Bounded; cleared when full.
    struct Validated
    {
        QByteArray stored;
        Report report;
        QByteArray servedJson;
        QByteArray fingerprint;
    };
    QHash<QString, Validated> m_validated;
    // Per region, the lookup whose commands have not left yet, to share (see read()).
    struct PendingRead
    {
        quint64 generation = 0; // RedisClient::writeGeneration() when it was issued
        std::shared_ptr<ReadFlight> flight;
    };
    QHash<QString, PendingRead> m_reads;
    QHash<QString, std::shared_ptr<Flight>> m_flights;
    QHash<QString, std::shared_ptr<Flight>> m_bypassFlights;
    QSet<QString> m_revalidating;
    Counters m_counters;
};

} // namespace Cachedash
