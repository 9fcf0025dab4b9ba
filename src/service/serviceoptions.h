// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "redisurl.h"
#include "slidingwindowlimiter.h"

#include <QHostAddress>
#include <QProcessEnvironment>
#include <QStringList>

#include <chrono>
#include <optional>

class QCommandLineParser;

namespace Cachedash {

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
    int rateLimit = 5;
    std::chrono::seconds rateWindow{10};
    SlidingWindowLimiter::OnError rateLimitOnError = SlidingWindowLimiter::OnError::Allow;
    QStringList trustedProxies;
    std::chrono::milliseconds redisTimeout{1000};
    bool headless = false;
    std::optional<bool> accessLog; // unset: on when headless, off in the window

    // Declares the command-line options on a parser.
    static void addTo(QCommandLineParser &parser);
    // Reads a parsed command line, with REDIS_URL and CACHEDASH_REDIS_URL from the environment
    // below an explicit --redis-url. Returns nothing and sets *error for an invalid value.
    static std::optional<ServiceOptions> from(
        const QCommandLineParser &parser, const QProcessEnvironment &env, QString *error);
};

} // namespace Cachedash
