// SPDX-License-Identifier: GPL-3.0-or-later
#include "service.h"

#include "redishealthcheck.h"
#include "redisserverprocess.h"
#include "servicelogging.h"

#include "api/reportsapi.h"
#include "cache/reportcache.h"
#include "cache/reportsource.h"
#include "http/addressranges.h"
#include "http/clientidentity.h"
#include "http/httpserver.h"
#include "ratelimit/ratelimits.h"
#include "redis/redisrouter.h"
#include "redis/redistls.h"

#include <QTcpServer>

#ifdef Q_OS_UNIX
#include <sys/resource.h>
#endif

using namespace std::chrono;

namespace Cachedash {

namespace {
// The exempt ranges of the options, checked already (ServiceOptions::problemWith()).
AddressRanges rangesOf(const QStringList &cidrs)
{
    AddressRanges ranges;
    for (const QString &cidr : cidrs)
        ranges.add(cidr);
    return ranges;
}
} // namespace

Service::Service(ServiceOptions options, QObject *parent)
    : QObject(parent)
    , m_options(std::move(options))
{
    RedisRouter::Options redisOptions;
    redisOptions.client.commandTimeout = m_options.redisTimeout;
    redisOptions.client.connectTimeout = m_options.redisTimeout;
    // Only a rediss:// URL loads the TLS backend; a file that will not do ends the start.
    if (m_options.redisUrl.tls)
        redisOptions.client.tls = RedisTlsContext::load(m_options.redisTls, &m_tlsError);
    m_redis = std::make_unique<RedisRouter>(m_options.redisUrl, redisOptions);
    m_source = std::make_unique<ReportSource>(m_options.reportDelay);
    ReportCache::Settings cacheSettings;
    cacheSettings.ttl = m_options.cacheTtl;
    cacheSettings.ttlJitter = m_options.cacheTtlJitter;
    cacheSettings.staleWhileRevalidate = m_options.staleWhileRevalidate;
    cacheSettings.maxComputations = m_options.maxComputations;
    m_cache = std::make_unique<ReportCache>(*m_redis, *m_source, cacheSettings);
    m_rateLimits = std::make_unique<RateLimits>(*m_redis, m_options.rateLimits, m_options.refreshRateLimits);
    m_rateLimits->setOnError(m_options.rateLimitOnError);
    m_identity = std::make_unique<ClientIdentity>();
    for (const QString &proxy : std::as_const(m_options.trustedProxies))
        m_identity->addTrustedProxy(proxy);
    m_rateLimitExempt = std::make_unique<AddressRanges>(rangesOf(m_options.rateLimitExempt));
    m_health = std::make_unique<RedisHealthCheck>(*m_redis);
    m_http = std::make_unique<HttpServer>();
    HttpServer::Limits limits;
    limits.maxConnections = m_options.maxConnections;
    limits.requestTimeout = m_options.requestTimeout;
    limits.idleTimeout = m_options.idleTimeout;
    m_http->setLimits(limits);
    m_api = std::make_unique<ReportsApi>(*m_http,
        ReportsApi::Components{*m_cache, *m_source, *m_rateLimits, *m_identity, *m_rateLimitExempt, *m_health,
            {m_cache.get(), m_source.get(), m_rateLimits.get(), m_redis.get(), &m_reloads}});
    m_api->setAccessLog(m_options.accessLog.value_or(m_options.headless));
    m_api->setAdminToken(m_options.adminToken);
}

Service::~Service()
{
    shutdown();
}

void Service::ensureDescriptors()
{
#ifdef Q_OS_UNIX
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) != 0)
        return;
    if (files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
        getrlimit(RLIMIT_NOFILE, &files);
    }
    // Redis connections, the window, log files and a margin take some 100 descriptors.
    const rlim_t reserve = 100;
    HttpServer::Limits limits = m_http->limits();
    if (files.rlim_cur != RLIM_INFINITY && rlim_t(limits.maxConnections) + reserve > files.rlim_cur) {
        const int fits
            = files.rlim_cur > reserve * 2 ? int(files.rlim_cur - reserve) : int(files.rlim_cur / 2);
        qCWarning(lcService).noquote()
            << QStringLiteral("only %1 files may be open (ulimit -n): at most %2 connections, not %3")
                   .arg(qulonglong(files.rlim_cur))
                   .arg(fits)
                   .arg(limits.maxConnections);
        limits.maxConnections = fits;
        m_http->setLimits(limits);
    }
#endif
}

QCoro::Task<bool> Service::start(milliseconds startupTimeout)
{
    if (!m_tlsError.isEmpty()) {
        m_error = m_tlsError;
        co_return false;
    }
    ensureDescriptors();
    QString listenError;
    if (!m_http->listenOn(m_options.bindAddress, m_options.port, &listenError)) {
        m_error = QStringLiteral("cannot listen on %1:%2: %3")
                      .arg(m_options.bindAddress.toString())
                      .arg(m_options.port)
                      .arg(listenError);
        co_return false;
    }
    m_port = m_http->port();
    if (!m_options.bindAddress.isLoopback() && m_options.adminToken.isEmpty())
        qCWarning(lcService).noquote()
            << "listening on" << m_options.bindAddress.toString()
            << "without --admin-token: anyone who can reach it can invalidate reports and reset rate limits";

    const bool ready = co_await connectRedis(startupTimeout);
    if (!ready) {
        m_http->stopListening();
        m_redis->close();
        co_return false;
    }
    co_return true;
}

QCoro::Task<bool> Service::connectRedis(milliseconds startupTimeout)
{
    if (!m_options.privateRedis) {
        m_redis->open();
        // The default address gets a short try before a private server is started instead. One
        // given is waited for (at least two connect timeouts), unless it refuses us (a password,
        // a certificate): that is said at once.
        const milliseconds wait = m_options.redisUrlGiven
            ? std::max(startupTimeout, m_options.redisTimeout * 2)
            : milliseconds(500);
        const bool ready = co_await m_redis->waitForReady(wait, m_options.redisUrlGiven);
        if (ready) {
            qCInfo(lcService).noquote() << "Redis:" << m_redis->describe() << "over" << m_redis->transport();
            co_return true;
        }
        if (m_redis->isCluster()) {
            // The map is known; a primary that does not answer yet degrades its slots only.
            qCWarning(lcService).noquote()
                << "Redis:" << m_redis->describe() << "- starting with a node down:" << m_redis->lastError();
            co_return true;
        }
        if (m_options.redisUrlGiven) {
            m_error = QStringLiteral("cannot reach Redis at %1: %2")
                          .arg(m_options.redisUrl.toDisplayString(),
                              m_redis->lastError().isEmpty() ? QStringLiteral("no answer")
                                                             : m_redis->lastError());
            co_return false;
        }
        m_redis->close();
    }
    m_privateRedis = std::make_unique<RedisServerProcess>();
    if (!m_privateRedis->start()) {
        m_error = QStringLiteral("no Redis at %1, and no private one either: %2")
                      .arg(m_options.redisUrl.toDisplayString(), m_privateRedis->errorString());
        co_return false;
    }
    qCInfo(lcService).noquote() << (m_options.privateRedis
            ? QStringLiteral("starting")
            : QStringLiteral("no Redis at %1, so starting").arg(m_options.redisUrl.toDisplayString()))
                                << "a private redis-server at" << m_privateRedis->url().toDisplayString()
                                << "(no persistence; it stops when cachedash does)";
    m_redis->setUrl(m_privateRedis->url());
    m_redis->open();
    const bool ready = co_await m_redis->waitForReady(std::max(startupTimeout, milliseconds(3000)));
    if (!ready) {
        m_error = QStringLiteral("the private redis-server did not answer: %1").arg(m_privateRedis->output());
        co_return false;
    }
    co_return true;
}

bool Service::applyLiveSettings(const LiveSettings &settings, QString *error)
{
    const QString problem = ServiceOptions::problemWith(settings);
    if (!problem.isEmpty()) {
        if (error)
            *error = problem;
        return false;
    }
    const bool limitsChanged = !ServiceOptions::sameRateLimits(settings, m_options.liveSettings());
    m_options.apply(settings);
    m_source->setDelay(settings.reportDelay);
    ReportCache::Settings cache = m_cache->settings();
    cache.ttl = settings.cacheTtl;
    m_cache->setSettings(cache);
    if (limitsChanged) {
        // All in one go, between two requests: none is decided by half of the change.
        *m_rateLimitExempt = rangesOf(settings.rateLimitExempt);
        m_rateLimits->setPolicies(settings.rateLimits, settings.refreshRateLimits);
    }
    qCInfo(lcService).noquote() << QStringLiteral(
        "settings: report %1 ms, TTL %2 s, limits %3, %4, %5 mode%6")
                                       .arg(settings.reportDelay.count())
                                       .arg(settings.cacheTtl.count())
                                       .arg(RateLimit::listText(settings.rateLimits.limits),
                                           algorithmName(settings.rateLimits.algorithm),
                                           modeName(settings.rateLimits.mode),
                                           settings.rateLimitExempt.isEmpty() ? QString()
                                                                              : QStringLiteral(", exempt ")
                                                   + settings.rateLimitExempt.join(u' '));
    return true;
}

bool Service::reload(const std::optional<ServiceOptions> &reread, const QString &problem)
{
    QString why = problem;
    if (reread) {
        // Only the rate-limit settings are taken: the rest keeps what the window or the start set.
        LiveSettings settings = m_options.liveSettings();
        settings.rateLimits = reread->rateLimits;
        settings.refreshRateLimits = reread->refreshRateLimits;
        settings.rateLimitExempt = reread->rateLimitExempt;
        if (applyLiveSettings(settings, &why)) {
            ++m_reloads.applied;
            qCInfo(lcService).noquote()
                << "reloaded"
                << (reread->configFile.isEmpty() ? QStringLiteral("the options") : reread->configFile);
            return true;
        }
    }
    ++m_reloads.failed;
    qCWarning(lcService).noquote() << "reload refused, the settings stay as they were:" << why;
    return false;
}

void Service::Reloads::writeMetrics(MetricsWriter &out) const
{
    out.family("cachedash_config_reloads_total", "counter",
        "Reloads asked by SIGHUP: applied, or failed (the old settings stayed).");
    out.sample("cachedash_config_reloads_total", "result=\"applied\"", double(applied));
    out.sample("cachedash_config_reloads_total", "result=\"failed\"", double(failed));
}

void Service::shutdown()
{
    if (m_shutDown)
        return;
    m_shutDown = true;
    m_http->stopListening();
    // Every suspended request resumes now: computations end, Redis commands fail with Closed,
    // and each request writes its answer.
    m_source->shutdown();
    m_redis->close();
    if (m_privateRedis)
        m_privateRedis->stop();
}

QString Service::baseUrl() const
{
    QHostAddress shown = m_options.bindAddress;
    if (shown == QHostAddress(QHostAddress::AnyIPv4) || shown == QHostAddress(QHostAddress::Any))
        shown = QHostAddress(QHostAddress::LocalHost);
    else if (shown == QHostAddress(QHostAddress::AnyIPv6))
        shown = QHostAddress(QHostAddress::LocalHostIPv6);
    const QString host = shown.protocol() == QAbstractSocket::IPv6Protocol ? u'[' + shown.toString() + u']'
                                                                           : shown.toString();
    return QStringLiteral("http://%1:%2").arg(host).arg(m_port);
}

} // namespace Cachedash
