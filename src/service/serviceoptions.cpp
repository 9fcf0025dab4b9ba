// SPDX-License-Identifier: GPL-3.0-or-later
#include "serviceoptions.h"

#include <QCommandLineParser>

using namespace std::chrono;

namespace Cachedash {

namespace {

bool readInt(const QCommandLineParser &parser, const QString &name, qint64 min, qint64 max, qint64 &out,
    QString *error)
{
    if (!parser.isSet(name))
        return true;
    bool ok = false;
    const QString text = parser.value(name);
    const qint64 value = text.toLongLong(&ok);
    if (!ok || value < min || value > max) {
        *error = QStringLiteral("--%1 must be a whole number from %2 to %3 (got \"%4\")")
                     .arg(name)
                     .arg(min)
                     .arg(max)
                     .arg(text.left(40));
        return false;
    }
    out = value;
    return true;
}

} // namespace

void ServiceOptions::addTo(QCommandLineParser &parser)
{
    parser.addOption(QCommandLineOption(
        QStringLiteral("headless"), QStringLiteral("Run the HTTP service without a window.")));
    parser.addOption(QCommandLineOption(QStringLiteral("bind"),
        QStringLiteral("Address to listen on (default 127.0.0.1)."), QStringLiteral("address")));
    parser.addOption(QCommandLineOption(QStringLiteral("port"),
        QStringLiteral("Port to listen on; 0 picks a free one (default 8000)."), QStringLiteral("port")));
    parser.addOption(QCommandLineOption(QStringLiteral("redis-url"),
        QStringLiteral("Redis to use: redis://[[user]:password@]host[:port][/db] or "
                       "unix:///path/to/redis.sock[?db=N] (default redis://127.0.0.1:6379; "
                       "also REDIS_URL or CACHEDASH_REDIS_URL)."),
        QStringLiteral("url")));
    parser.addOption(QCommandLineOption(QStringLiteral("private-redis"),
        QStringLiteral("Start a private redis-server (loopback, no persistence) instead of using one. "
                       "This happens anyway when no URL is given and nothing answers at "
                       "redis://127.0.0.1:6379.")));
    parser.addOption(QCommandLineOption(QStringLiteral("redis-timeout-ms"),
        QStringLiteral("Timeout of each Redis command in milliseconds (default 1000)."),
        QStringLiteral("ms")));
    parser.addOption(QCommandLineOption(QStringLiteral("report-delay-ms"),
        QStringLiteral("How long the simulated report computation takes (default 1500)."),
        QStringLiteral("ms")));
    parser.addOption(QCommandLineOption(QStringLiteral("cache-ttl"),
        QStringLiteral("Seconds a cached report lives (default 30)."), QStringLiteral("seconds")));
    parser.addOption(QCommandLineOption(QStringLiteral("cache-ttl-jitter"),
        QStringLiteral("Add a random 0 to SECONDS to each report's TTL, so that reports "
                       "written together do not expire together (default 0)."),
        QStringLiteral("seconds")));
    parser.addOption(QCommandLineOption(QStringLiteral("stale-while-revalidate"),
        QStringLiteral("For SECONDS after a report expires, serve it (X-Cache: STALE) while one "
                       "background recomputation runs (default 0: off)."),
        QStringLiteral("seconds")));
    parser.addOption(QCommandLineOption(QStringLiteral("rate-limit"),
        QStringLiteral("Requests admitted per client per window (default 5)."), QStringLiteral("n")));
    parser.addOption(QCommandLineOption(QStringLiteral("rate-window"),
        QStringLiteral("Length of the sliding window in seconds (default 10)."), QStringLiteral("seconds")));
    parser.addOption(QCommandLineOption(QStringLiteral("rate-limit-on-error"),
        QStringLiteral("What the limiter does when Redis cannot answer: allow (default) or deny."),
        QStringLiteral("allow|deny")));
    parser.addOption(QCommandLineOption(QStringLiteral("trusted-proxy"),
        QStringLiteral("A proxy address or CIDR range whose X-Forwarded-For is believed (repeatable)."),
        QStringLiteral("cidr")));
    parser.addOption(QCommandLineOption(QStringLiteral("access-log"),
        QStringLiteral("Log one line per request: on or off (default on when headless)."),
        QStringLiteral("on|off")));
}

std::optional<ServiceOptions> ServiceOptions::from(
    const QCommandLineParser &parser, const QProcessEnvironment &env, QString *error)
{
    ServiceOptions o;
    QString problem;
    auto fail = [&](const QString &message) -> std::optional<ServiceOptions> {
        if (error)
            *error = message;
        return std::nullopt;
    };

    o.headless = parser.isSet(QStringLiteral("headless"));
    o.privateRedis = parser.isSet(QStringLiteral("private-redis"));

    QString url;
    QString urlSource;
    if (o.privateRedis && parser.isSet(QStringLiteral("redis-url")))
        return fail(QStringLiteral("--private-redis and --redis-url contradict each other: choose one"));
    if (o.privateRedis) {
        // The flag wins over REDIS_URL and CACHEDASH_REDIS_URL from the environment.
    } else if (parser.isSet(QStringLiteral("redis-url"))) {
        url = parser.value(QStringLiteral("redis-url"));
        urlSource = QStringLiteral("--redis-url");
    } else if (env.contains(QStringLiteral("CACHEDASH_REDIS_URL"))) {
        url = env.value(QStringLiteral("CACHEDASH_REDIS_URL"));
        urlSource = QStringLiteral("CACHEDASH_REDIS_URL");
    } else if (env.contains(QStringLiteral("REDIS_URL"))) {
        url = env.value(QStringLiteral("REDIS_URL"));
        urlSource = QStringLiteral("REDIS_URL");
    }
    if (!urlSource.isEmpty()) {
        const auto parsed = RedisUrl::parse(url, &problem);
        if (!parsed)
            return fail(QStringLiteral("%1: %2").arg(urlSource, problem));
        o.redisUrl = *parsed;
        o.redisUrlGiven = true;
    }

    if (parser.isSet(QStringLiteral("bind"))) {
        const QString text = parser.value(QStringLiteral("bind"));
        QHostAddress address;
        if (text == u"localhost")
            address = QHostAddress(QHostAddress::LocalHost);
        else if (!address.setAddress(text))
            return fail(
                QStringLiteral("--bind must be an IP address such as 127.0.0.1 or 0.0.0.0 (got \"%1\")")
                    .arg(text.left(40)));
        o.bindAddress = address;
    }

    qint64 value = o.port;
    if (!readInt(parser, QStringLiteral("port"), 0, 65535, value, error))
        return std::nullopt;
    o.port = quint16(value);
    value = o.redisTimeout.count();
    if (!readInt(parser, QStringLiteral("redis-timeout-ms"), 10, 60'000, value, error))
        return std::nullopt;
    o.redisTimeout = milliseconds(value);
    value = o.reportDelay.count();
    if (!readInt(parser, QStringLiteral("report-delay-ms"), 0, 600'000, value, error))
        return std::nullopt;
    o.reportDelay = milliseconds(value);
    value = o.cacheTtl.count();
    if (!readInt(parser, QStringLiteral("cache-ttl"), 1, 86'400 * 365, value, error))
        return std::nullopt;
    o.cacheTtl = seconds(value);
    value = o.cacheTtlJitter.count();
    if (!readInt(parser, QStringLiteral("cache-ttl-jitter"), 0, 86'400, value, error))
        return std::nullopt;
    o.cacheTtlJitter = seconds(value);
    value = o.staleWhileRevalidate.count();
    if (!readInt(parser, QStringLiteral("stale-while-revalidate"), 0, 86'400, value, error))
        return std::nullopt;
    o.staleWhileRevalidate = seconds(value);
    value = o.rateLimit;
    if (!readInt(parser, QStringLiteral("rate-limit"), 1, 1'000'000'000, value, error))
        return std::nullopt;
    o.rateLimit = int(value);
    value = o.rateWindow.count();
    if (!readInt(parser, QStringLiteral("rate-window"), 1, 86'400, value, error))
        return std::nullopt;
    o.rateWindow = seconds(value);

    if (parser.isSet(QStringLiteral("rate-limit-on-error"))) {
        const QString policy = parser.value(QStringLiteral("rate-limit-on-error"));
        if (policy == u"allow")
            o.rateLimitOnError = SlidingWindowLimiter::OnError::Allow;
        else if (policy == u"deny")
            o.rateLimitOnError = SlidingWindowLimiter::OnError::Deny;
        else
            return fail(QStringLiteral("--rate-limit-on-error must be allow or deny (got \"%1\")")
                            .arg(policy.left(40)));
    }
    o.trustedProxies = parser.values(QStringLiteral("trusted-proxy"));
    if (parser.isSet(QStringLiteral("access-log"))) {
        const QString v = parser.value(QStringLiteral("access-log"));
        if (v == u"on" || v == u"true" || v == u"1")
            o.accessLog = true;
        else if (v == u"off" || v == u"false" || v == u"0")
            o.accessLog = false;
        else
            return fail(QStringLiteral("--access-log must be on or off (got \"%1\")").arg(v.left(40)));
    }
    return o;
}

} // namespace Cachedash
