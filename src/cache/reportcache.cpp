// SPDX-License-Identifier: GPL-3.0-or-later
#include "reportcache.h"

#include "cachelogging.h"
#include "flight_p.h"
#include "reportsource.h"

#include "redis/redisrouter.h"

#include <QCryptographicHash>
#include <QRandomGenerator>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace Cachedash {

namespace {
QByteArray randomToken()
{
    quint64 words[2];
    QRandomGenerator::system()->generate(std::begin(words), std::end(words));
    return QByteArray(reinterpret_cast<const char *>(words), sizeof words).toHex();
}
} // namespace

ReportCache::ReportCache(RedisRouter &redis, ReportSource &source, Settings settings)
    : m_redis(redis)
    , m_source(source)
    , m_settings(settings)
    , m_fillScript(RedisScript::fromFile(QStringLiteral(":/lua/report_fill.lua")))
    , m_releaseScript(RedisScript::fromFile(QStringLiteral(":/lua/lease_release.lua")))
{
    Q_ASSERT_X(!m_fillScript.isNull() && !m_releaseScript.isNull(), "ReportCache",
        "the Lua script resources are missing");
    m_redis.registerScript(m_fillScript);
    m_redis.registerScript(m_releaseScript);
}

ReportCache::~ReportCache() = default;

QByteArray ReportCache::keyFor(const QString &region)
{
    return QByteArrayLiteral("report:") + region.toUtf8();
}

// The report's key as a hash tag: the lease lives in the report's cluster slot, so the fill script
// may touch both. A region never contains '{', so no report key can be a lease.
QByteArray ReportCache::leaseKeyFor(const QString &region)
{
    return '{' + keyFor(region) + QByteArrayLiteral("}:lease");
}

QByteArray ReportCache::fingerprint(const QByteArray &stored)
{
    return QCryptographicHash::hash(stored, QCryptographicHash::Sha1).toHex().left(20);
}

milliseconds ReportCache::leaseTtl() const
{
    // Long enough for the computation and its write; short enough that waiters take over soon
    // after a holder that died.
    return m_source.delay() * 2 + 1000ms;
}

seconds ReportCache::writeTtl() const
{
    seconds ttl = m_settings.ttl + m_settings.staleWhileRevalidate;
    if (m_settings.ttlJitter > 0s)
        ttl += seconds(QRandomGenerator::global()->bounded(qint64(m_settings.ttlJitter.count()) + 1));
    return ttl;
}

QCoro::Task<CacheRead> ReportCache::read(QString region)
{
    // A read that finds the lookup of its region not sent yet shares it: the lookup still runs
    // after this request arrived, so the answer is as fresh as one of its own.
    // (One server: its connection's generation, without building the key on this hot path.)
    const quint64 generation
        = m_redis.isCluster() ? m_redis.writeGeneration(keyFor(region)) : m_redis.writeGeneration({});
    if (const auto it = m_reads.constFind(region); it != m_reads.cend() && it->generation == generation) {
        ReadFlight::Awaiter join(it->flight);
        CacheRead shared = co_await join;
        co_return shared;
    }
    auto flight = std::make_shared<ReadFlight>();
    m_reads.insert(region, PendingRead{generation, flight});
    QCoro::Task<CacheRead> looking = lookUp(region);
    CacheRead result = co_await looking;
    if (const auto it = m_reads.constFind(region); it != m_reads.cend() && it->flight == flight)
        m_reads.erase(it);
    flight->finish(result);
    co_return result;
}

QCoro::Task<CacheRead> ReportCache::lookUp(QString region)
{
    const QByteArray key = keyFor(region);
    RedisPendingReply valueReply = m_redis.get(key);
    RedisPendingReply ttlReply = m_redis.pttl(key);
    const RedisReply value = co_await valueReply;
    const RedisReply ttl = co_await ttlReply;

    CacheRead read;
    // Another type under the key (a hash, a list) is as wrong as bad JSON: overwrite it.
    const bool wrongType = value.isError() && value.bytes().startsWith("WRONGTYPE");
    if (!value.isOk() && !wrongType) {
        read.outcome = CacheRead::Outcome::Unavailable;
        read.problem = value.errorText();
        co_return read;
    }
    if (value.isNil()) {
        read.outcome = CacheRead::Outcome::Miss;
        co_return read;
    }
    // A hit whose bytes were validated before skips parsing, serialising and hashing again.
    auto known = m_validated.constFind(region);
    if (known == m_validated.cend() || known->stored != value.bytes()) {
        QString why = QStringLiteral("not a string value");
        const std::optional<Report> report
            = value.isString() ? Report::fromJson(value.bytes(), region, &why) : std::optional<Report>();
        if (!report) {
            ++m_counters.corrupt;
            qCWarning(lcCache).noquote()
                << "ignoring the invalid entry under" << QString::fromUtf8(key) << "-" << why;
            read.outcome = CacheRead::Outcome::Corrupt;
            read.problem = why;
            co_return read;
        }
        if (m_validated.size() >= 4096)
            m_validated.clear();
        known = m_validated.insert(
            region, Validated{value.bytes(), *report, report->toJson(true), fingerprint(value.bytes())});
    }
    read.report = known->report;
    read.stored = known->stored;
    read.servedJson = known->servedJson;
    read.fingerprint = known->fingerprint;
    // PTTL answers -1 for a key without expiry and -2 if it vanished between the two commands.
    const qint64 left = ttl.isInteger() ? ttl.toInteger() : 0;
    const qint64 grace = duration_cast<milliseconds>(m_settings.staleWhileRevalidate).count();
    if (left >= 0 && grace > 0 && left <= grace) {
        read.outcome = CacheRead::Outcome::Stale;
    } else {
        read.outcome = CacheRead::Outcome::Hit;
        read.freshFor = milliseconds(std::max<qint64>(left - grace, 0));
    }
    co_return read;
}

QCoro::Task<CacheFill> ReportCache::fill(QString region)
{
    return flyOnce(std::move(region), true);
}

QCoro::Task<CacheFill> ReportCache::bypass(QString region)
{
    return flyOnce(std::move(region), false);
}

QCoro::Task<CacheFill> ReportCache::startFlight(QString region, bool cached)
{
    return cached ? lead(std::move(region), true) : computeUncached(std::move(region));
}

QCoro::Task<CacheFill> ReportCache::flyOnce(QString region, bool cached)
{
    QHash<QString, std::shared_ptr<Flight>> &flights = cached ? m_flights : m_bypassFlights;
    if (const auto it = flights.constFind(region); it != flights.cend()) {
        Flight::Awaiter join(*it);
        CacheFill shared = co_await join;
        if (shared.outcome == CacheFill::Outcome::Computed) {
            shared.outcome = CacheFill::Outcome::Shared;
            ++m_counters.shared;
        }
        co_return shared;
    }
    if (atCapacity()) {
        CacheFill refused;
        refused.outcome = CacheFill::Outcome::Overloaded;
        co_return refused;
    }
    auto flight = std::make_shared<Flight>();
    flights.insert(region, flight);
    QCoro::Task<CacheFill> flying = startFlight(region, cached);
    CacheFill result = co_await flying;
    if (flights.value(region) == flight)
        flights.remove(region);
    flight->finish(result);
    co_return result;
}

QCoro::Task<CacheFill> ReportCache::computeUncached(QString region)
{
    CacheFill fill;
    QCoro::Task<std::optional<Report>> computing = m_source.compute(region);
    std::optional<Report> report = co_await computing;
    if (!report)
        co_return fill;
    fill.outcome = CacheFill::Outcome::Bypass;
    fill.report = std::move(*report);
    fill.stored = fill.report.toJson(false);
    co_return fill;
}

QCoro::Task<CacheFill> ReportCache::lead(QString region, bool waitForOthers)
{
    const QByteArray leaseKey = leaseKeyFor(region);
    const QByteArray token = randomToken();
    milliseconds pollInterval = 20ms;
    while (true) {
        RedisPendingReply leaseReply
            = m_redis.set(leaseKey, token, leaseTtl(), RedisClient::SetCondition::IfAbsent);
        const RedisReply lease = co_await leaseReply;
        if (!lease.isOk()) {
            QCoro::Task<CacheFill> direct = computeUncached(region);
            CacheFill fill = co_await direct;
            co_return fill;
        }
        if (lease.isStatus()) {
            // Ours: compute, then store only if the lease still holds.
            QCoro::Task<std::optional<Report>> computing = m_source.compute(region);
            std::optional<Report> report = co_await computing;
            CacheFill fill;
            if (!report) {
                releaseLease(leaseKey, token);
                co_return fill;
            }
            fill.outcome = CacheFill::Outcome::Computed;
            fill.report = std::move(*report);
            fill.stored = fill.report.toJson(false);
            const seconds ttl = writeTtl();
            const QByteArrayList keys{keyFor(region), leaseKey};
            const QByteArrayList args{token, fill.stored, QByteArray::number(qint64(ttl.count()))};
            QCoro::Task<RedisReply> committing = m_redis.evalScript(m_fillScript, keys, args);
            const RedisReply committed = co_await committing;
            if (committed.isInteger() && committed.toInteger() == 1) {
                ++m_counters.writes;
                fill.freshFor = duration_cast<milliseconds>(ttl - m_settings.staleWhileRevalidate);
            } else if (committed.isInteger()) {
                ++m_counters.writesDiscarded;
                qCInfo(lcCache).noquote() << QStringLiteral("not storing report:") + region
                                          << "- it was invalidated while it was being computed";
            } else {
                qCWarning(lcCache).noquote()
                    << QStringLiteral("could not store report:") + region << "-" << committed.errorText();
                // The next miss need not wait for the lease to expire.
                releaseLease(leaseKey, token);
            }
            co_return fill;
        }
        if (!waitForOthers)
            co_return CacheFill{};

        // Another process holds the lease: wait for its report, or take over once the lease is gone
        // (its holder died, or a refresh removed it). One poller per region and process, backing off.
        while (true) {
            Sleeper::Wait wait = m_source.sleeper().sleep(pollInterval);
            const bool elapsed = co_await wait;
            if (!elapsed)
                co_return CacheFill{};
            pollInterval = std::min(pollInterval * 2, 100ms);
            QCoro::Task<CacheRead> reading = read(region);
            RedisPendingReply leaseLeft = m_redis.pttl(leaseKey);
            const CacheRead current = co_await reading;
            const RedisReply leaseTtlLeft = co_await leaseLeft;
            if (current.outcome == CacheRead::Outcome::Hit || current.outcome == CacheRead::Outcome::Stale) {
                CacheFill shared;
                shared.outcome = CacheFill::Outcome::Shared;
                shared.report = current.report;
                shared.stored = current.stored;
                shared.freshFor = current.freshFor;
                ++m_counters.shared;
                co_return shared;
            }
            if (current.outcome == CacheRead::Outcome::Unavailable || !leaseTtlLeft.isInteger()) {
                QCoro::Task<CacheFill> direct = computeUncached(region);
                CacheFill fill = co_await direct;
                co_return fill;
            }
            if (leaseTtlLeft.toInteger() == -2)
                break;
        }
    }
}

QCoro::Task<> ReportCache::releaseLease(QByteArray leaseKey, QByteArray token)
{
    const QByteArrayList keys{leaseKey};
    const QByteArrayList args{token};
    QCoro::Task<RedisReply> releasing = m_redis.evalScript(m_releaseScript, keys, args);
    const RedisReply released = co_await releasing;
    if (!released.isOk())
        qCDebug(lcCache).noquote() << "could not release" << QString::fromUtf8(leaseKey) << "-"
                                   << released.errorText() << "(it expires by itself)";
}

void ReportCache::revalidate(const QString &region)
{
    if (m_flights.contains(region) || m_revalidating.contains(region) || atCapacity())
        return;
    revalidateInBackground(region);
}

QCoro::Task<> ReportCache::revalidateInBackground(QString region)
{
    m_revalidating.insert(region);
    ++m_counters.revalidations;
    QCoro::Task<CacheFill> leading = lead(region, false);
    co_await leading;
    m_revalidating.remove(region);
}

QCoro::Task<std::optional<ReportCache::Invalidation>> ReportCache::invalidate(QString region)
{
    // Requests from now on must not join a computation that began before the refresh.
    m_flights.remove(region);
    RedisPendingReply reportDeleted = m_redis.del(keyFor(region));
    RedisPendingReply leaseDeleted = m_redis.del(leaseKeyFor(region));
    const RedisReply report = co_await reportDeleted;
    const RedisReply lease = co_await leaseDeleted;
    if (!report.isInteger()) {
        qCWarning(lcCache).noquote() << QStringLiteral("could not invalidate report:") + region << "-"
                                     << report.errorText();
        co_return std::nullopt;
    }
    Invalidation result;
    result.deleted = report.toInteger() > 0;
    result.fillCancelled = lease.isInteger() && lease.toInteger() > 0;
    co_return result;
}

void ReportCache::writeMetrics(MetricsWriter &out) const
{
    out.single(
        "cachedash_cache_writes_total", "counter", "Reports stored in Redis.", double(m_counters.writes));
    out.single("cachedash_cache_writes_discarded_total", "counter",
        "Computations whose write a refresh cancelled.", double(m_counters.writesDiscarded));
    out.single("cachedash_cache_shared_total", "counter", "Misses answered by another request's computation.",
        double(m_counters.shared));
    out.single("cachedash_cache_corrupt_entries_total", "counter", "Invalid values found under report keys.",
        double(m_counters.corrupt));
    out.single("cachedash_cache_revalidations_total", "counter",
        "Background recomputations of stale reports.", double(m_counters.revalidations));
}

} // namespace Cachedash
