// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "serviceoptions.h"

#include <QObject>

#include <qcoro/qcorotask.h>

#include <memory>

namespace Cachedash {

class AddressRanges;
class ClientIdentity;
class HttpServer;
class RedisRouter;
class RedisHealthCheck;
class RedisServerProcess;
class ReportCache;
class ReportSource;
class ReportsApi;
class RateLimits;

// The reports service, whole: its Redis (one server, a cluster or a sentinel's master), the report source,
// the cache, the limiter, the HTTP transport and the API that answers it, on the thread that creates it.
// Headless mode runs it alone; the window hosts the same object.
class Service : public QObject
{
    Q_OBJECT

public:
    explicit Service(ServiceOptions options, QObject *parent = nullptr);
    ~Service() override;

    // Listens, then connects to Redis. Without a Redis URL it tries redis://127.0.0.1:6379 and,
    // when nothing answers there (or with --private-redis), starts a private redis-server.
    // False (with errorString()) when the port cannot be bound, or when Redis does not answer
    // within startupTimeout. Nothing is left listening on failure.
    QCoro::Task<bool> start(std::chrono::milliseconds startupTimeout = std::chrono::milliseconds(2000));
    // Stops listening and ends every request in flight at once (each still gets an answer).
    void shutdown();

    LiveSettings liveSettings() const { return m_options.liveSettings(); }
    // Applies the settings at once: a request asked after this call sees all of them, one asked
    // before none. Settings that do not hold (ServiceOptions::problemWith()) are refused, and the
    // old ones kept: false, with *error.
    bool applyLiveSettings(const LiveSettings &settings, QString *error = nullptr);
    // SIGHUP: `reread` is the options read again (command line, environment, --config file), or
    // nothing with `problem` saying why not. Applies their rate limits, algorithm, mode and
    // exemptions, or keeps the old ones and logs why; counted in cachedash_config_reloads_total.
    bool reload(const std::optional<ServiceOptions> &reread, const QString &problem);

    QString errorString() const { return m_error; }
    quint16 port() const { return m_port; }
    // http://127.0.0.1:8000
    QString baseUrl() const;
    const ServiceOptions &options() const { return m_options; }
    // The private redis-server, when the service started one.
    RedisServerProcess *privateRedis() const { return m_privateRedis.get(); }

    RedisRouter &redis() { return *m_redis; }
    ReportSource &source() { return *m_source; }
    ReportCache &cache() { return *m_cache; }
    RateLimits &rateLimits() { return *m_rateLimits; }
    HttpServer &http() { return *m_http; }
    ReportsApi &api() { return *m_api; }

private:
    QCoro::Task<bool> connectRedis(std::chrono::milliseconds startupTimeout);
    // Raises the open-files limit as far as allowed, and keeps the connection cap within it.
    void ensureDescriptors();

    ServiceOptions m_options;
    std::unique_ptr<RedisRouter> m_redis;
    std::unique_ptr<ReportSource> m_source;
    std::unique_ptr<ReportCache> m_cache;
    std::unique_ptr<RateLimits> m_rateLimits;
    std::unique_ptr<ClientIdentity> m_identity;
    std::unique_ptr<AddressRanges> m_rateLimitExempt;
    std::unique_ptr<RedisHealthCheck> m_health;
    std::unique_ptr<HttpServer> m_http;
    std::unique_ptr<ReportsApi> m_api;
    std::unique_ptr<RedisServerProcess> m_privateRedis;
    QString m_error;
    QString m_tlsError; // the TLS files of a rediss:// URL could not be used
    quint16 m_port = 0;
    struct Reloads : MetricsSource
    {
        quint64 applied = 0;
        quint64 failed = 0;
        void writeMetrics(MetricsWriter &out) const override;
    } m_reloads;
    bool m_shutDown = false;
};

} // namespace Cachedash
