// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "ratelimit/ratelimiter.h"
#include "ratelimit/ratelimitpolicy.h"
#include "redis/redistls.h"
#include "redis/redisurl.h"

#include <QHash>
#include <QHostAddress>
#include <QProcessEnvironment>
#include <QStringList>
#include <QVariantMap>

#include <chrono>
#include <optional>

class QCommandLineParser;

namespace Cachedash {

// What can change while the service runs (the window's Settings dialog; the rate-limit part also
// by SIGHUP, which re-reads --config).
struct LiveSettings
{
    std::chrono::milliseconds reportDelay;
    std::chrono::seconds cacheTtl;
    RateLimitPolicy rateLimits;
    QList<RateLimit> refreshRateLimits;
    QStringList rateLimitExempt;
};

// Everything the service can be told, with the defaults of the original tutorial.
struct ServiceOptions
{
    RedisUrl redisUrl;
    bool redisUrlGiven = false; // set explicitly: never silently replaced
    bool privateRedis = false; // always start a private redis-server
    QHostAddress bindAddress = QHostAddress(QHostAddress::LocalHost);
    quint16 port = 8000;
    std::chrono::milliseconds reportDelay{1500};
    std::chrono::seconds cacheTtl{30};
    std::chrono::seconds cacheTtlJitter{0};
    std::chrono::seconds staleWhileRevalidate{0};
    // The report route's limits, algorithm and mode (--rate-limit, --rate-algorithm,
    // --rate-limit-mode); the refresh route's limits (--refresh-rate-limit, none by default) are
    // counted by the same algorithm in the same mode.
    RateLimitPolicy rateLimits{{{5, std::chrono::seconds(10)}}};
    QList<RateLimit> refreshRateLimits;
    RateLimiter::OnError rateLimitOnError = RateLimiter::OnError::Allow;
    QStringList trustedProxies;
    QStringList rateLimitExempt; // addresses and CIDR ranges never limited
    QByteArray adminToken; // empty: refresh is open to anyone who can reach the service
    RedisTlsOptions redisTls; // for rediss:// URLs only
    std::chrono::milliseconds redisTimeout{1000};
    int maxConnections = 4096; // open HTTP connections; beyond, idle ones make room, else 503
    int maxComputations = 100; // distinct reports computed at once; beyond, a miss gets 503
    std::chrono::milliseconds requestTimeout{10'000}; // a request must arrive whole within this
    std::chrono::milliseconds idleTimeout{30'000}; // a keep-alive connection may idle this long
    bool headless = false;
    std::optional<bool> accessLog; // unset: on when headless, off in the window
    QString configFile; // --config: an INI file of options, re-read on SIGHUP

    LiveSettings liveSettings() const
    {
        return {reportDelay, cacheTtl, rateLimits, refreshRateLimits, rateLimitExempt};
    }
    // Takes the live settings over: the one place that copies them.
    void apply(const LiveSettings &settings)
    {
        reportDelay = settings.reportDelay;
        cacheTtl = settings.cacheTtl;
        rateLimits = settings.rateLimits;
        refreshRateLimits = settings.refreshRateLimits;
        rateLimitExempt = settings.rateLimitExempt;
    }
    // Whether the rate-limit settings (limits, algorithm, mode, exemptions) differ.
    static bool sameRateLimits(const LiveSettings &a, const LiveSettings &b)
    {
        return a.rateLimits == b.rateLimits && a.refreshRateLimits == b.refreshRateLimits
            && a.rateLimitExempt == b.rateLimitExempt;
    }
    // Checks the rate-limit settings as the options do: nothing, or why they cannot be used.
    // `origins` names where each option came from ("rate-limit in /etc/cachedash.conf").
    static QString problemWith(
        const LiveSettings &settings, const QHash<QString, QString> *origins = nullptr);

    // Declares the command-line options on a parser.
    static void addTo(QCommandLineParser &parser);
    // Every option's name, as the config file may use them.
    static QStringList optionNames();
    // Reads the options. Each comes from the command line, else from the environment variable
    // CACHEDASH_<NAME> (--report-delay-ms: CACHEDASH_REPORT_DELAY_MS; REDIS_URL also works for the
    // URL), else from the --config file (an INI file, keys named as the options), else from `saved`
    // (the window's saved settings, keyed by option name), else its default.
    // Returns nothing and sets *error, naming the option's origin, for an invalid value.
    static std::optional<ServiceOptions> from(const QCommandLineParser &parser,
        const QProcessEnvironment &env, const QVariantMap &saved, QString *error);
};

} // namespace Cachedash
