// SPDX-License-Identifier: GPL-3.0-or-later
#include "serviceoptions.h"

#include "optionsources_p.h"

#include "http/addressranges.h"
#include "http/clientidentity.h"

#include <QCommandLineParser>
#include <QFileInfo>
#include <QVariantMap>

using namespace std::chrono;

namespace Cachedash {

using detail::OptionSources;
using detail::readConfigFile;

namespace {

QList<QCommandLineOption> declaredOptions()
{
    QList<QCommandLineOption> options;
    options.append(QCommandLineOption(QStringLiteral("config"),
        QStringLiteral("Read options from this INI file (keys named as the options: rate-limit = "
                       "5/10s, 100/1h). The command line and the environment come first. SIGHUP "
                       "re-reads it and applies its rate limits, algorithm, mode and exemptions."),
        QStringLiteral("file")));
    options.append(QCommandLineOption(
        QStringLiteral("headless"), QStringLiteral("Run the HTTP service without a window.")));
    options.append(QCommandLineOption(QStringLiteral("bind"),
        QStringLiteral("Address to listen on (default 127.0.0.1)."), QStringLiteral("address")));
    options.append(QCommandLineOption(QStringLiteral("port"),
        QStringLiteral("Port to listen on; 0 picks a free one (default 8000)."), QStringLiteral("port")));
    options.append(QCommandLineOption(QStringLiteral("redis-url"),
        QStringLiteral("Redis to use: redis://[[user]:password@]host[:port][,host:port...][/db] "
                       "(a server, or any node of a Redis Cluster), "
                       "redis+sentinel://[[user]:password@]host:port[,host:port...]/MASTER_NAME[/db] or "
                       "unix:///path/to/redis.sock[?db=N] (default redis://127.0.0.1:6379; "
                       "also REDIS_URL or CACHEDASH_REDIS_URL). Over TLS: rediss://... or "
                       "rediss+sentinel://..., the same forms (to every node, sentinel and master; "
                       "see --redis-ca-cert)."),
        QStringLiteral("url")));
    options.append(QCommandLineOption(QStringLiteral("redis-ca-cert"),
        QStringLiteral("For rediss://: trust the CAs in this PEM file instead of the system's."),
        QStringLiteral("file")));
    options.append(QCommandLineOption(QStringLiteral("redis-client-cert"),
        QStringLiteral("For rediss://: present this PEM certificate to the server (mutual TLS; "
                       "with --redis-client-key)."),
        QStringLiteral("file")));
    options.append(QCommandLineOption(QStringLiteral("redis-client-key"),
        QStringLiteral("For rediss://: the private key (PEM, not encrypted) of --redis-client-cert."),
        QStringLiteral("file")));
    options.append(QCommandLineOption(QStringLiteral("redis-insecure-skip-tls-verify"),
        QStringLiteral("For rediss://: accept any certificate for any name. Anyone on the path can "
                       "then read and change the traffic; for testing only, and logged on every connect.")));
    options.append(QCommandLineOption(QStringLiteral("private-redis"),
        QStringLiteral("Start a private redis-server (loopback, no persistence) instead of using one. "
                       "This happens anyway when no URL is given and nothing answers at "
                       "redis://127.0.0.1:6379.")));
    options.append(QCommandLineOption(QStringLiteral("redis-timeout-ms"),
        QStringLiteral("Timeout of each Redis command in milliseconds (default 1000)."),
        QStringLiteral("ms")));
    options.append(QCommandLineOption(QStringLiteral("report-delay-ms"),
        QStringLiteral("How long the simulated report computation takes (default 1500)."),
        QStringLiteral("ms")));
    options.append(QCommandLineOption(QStringLiteral("cache-ttl"),
        QStringLiteral("Seconds a cached report lives (default 30)."), QStringLiteral("seconds")));
    options.append(QCommandLineOption(QStringLiteral("cache-ttl-jitter"),
        QStringLiteral("Add a random 0 to SECONDS to each report's TTL, so that reports "
                       "written together do not expire together (default 0)."),
        QStringLiteral("seconds")));
    options.append(QCommandLineOption(QStringLiteral("stale-while-revalidate"),
        QStringLiteral("For SECONDS after a report expires, serve it (X-Cache: STALE) while one "
                       "background recomputation runs (default 0: off)."),
        QStringLiteral("seconds")));
    options.append(QCommandLineOption(QStringLiteral("rate-limit"),
        QStringLiteral("A limit on GET /reports/{region} per client: N/DURATION, DURATION in s, m, h "
                       "or d (5/10s, 100/1h; repeatable: every limit must admit a request). A bare N "
                       "means N per --rate-window. Default 5/10s."),
        QStringLiteral("n/duration")));
    options.append(QCommandLineOption(QStringLiteral("rate-window"),
        QStringLiteral("The window of a bare --rate-limit N, in seconds (default 10)."),
        QStringLiteral("seconds")));
    options.append(QCommandLineOption(QStringLiteral("refresh-rate-limit"),
        QStringLiteral("A limit on POST /reports/{region}/refresh per client, as --rate-limit "
                       "(repeatable; default none)."),
        QStringLiteral("n/duration")));
    options.append(QCommandLineOption(QStringLiteral("rate-algorithm"),
        QStringLiteral("How limits are counted: sliding-log (default; exact, one entry per request), "
                       "gcra (exact, one number per limit) or sliding-window-counter (approximate, "
                       "two counters per limit)."),
        QStringLiteral("name")));
    options.append(QCommandLineOption(QStringLiteral("rate-limit-mode"),
        QStringLiteral("enforce (default) refuses with 429; shadow refuses nothing, and logs and "
                       "counts what it would have refused."),
        QStringLiteral("enforce|shadow")));
    options.append(QCommandLineOption(QStringLiteral("rate-limit-on-error"),
        QStringLiteral("What the limiter does when Redis cannot answer: allow (default) or deny."),
        QStringLiteral("allow|deny")));
    options.append(QCommandLineOption(QStringLiteral("admin-token"),
        QStringLiteral(
            "Require \"Authorization: Bearer TOKEN\" on POST /reports/{region}/refresh and on "
            "/ratelimit/{client} "
            "(at least 16 characters; better given as CACHEDASH_ADMIN_TOKEN than on the command line)."),
        QStringLiteral("token")));
    options.append(QCommandLineOption(QStringLiteral("rate-limit-exempt"),
        QStringLiteral("An address or CIDR range never rate limited, nor counted (repeatable)."),
        QStringLiteral("cidr")));
    options.append(QCommandLineOption(QStringLiteral("trusted-proxy"),
        QStringLiteral("A proxy address or CIDR range whose X-Forwarded-For is believed (repeatable)."),
        QStringLiteral("cidr")));
    options.append(QCommandLineOption(QStringLiteral("max-connections"),
        QStringLiteral("Open HTTP connections at most; beyond, the longest idle one is closed to make "
                       "room, or the new one gets 503 (default 4096)."),
        QStringLiteral("n")));
    options.append(QCommandLineOption(QStringLiteral("max-computations"),
        QStringLiteral("Distinct reports computed at once at most; a miss beyond gets 503 with "
                       "Retry-After (default 100)."),
        QStringLiteral("n")));
    options.append(QCommandLineOption(QStringLiteral("request-timeout-ms"),
        QStringLiteral("A request must arrive whole within this many milliseconds of its first byte, "
                       "else 408 (default 10000)."),
        QStringLiteral("ms")));
    options.append(QCommandLineOption(QStringLiteral("idle-timeout-ms"),
        QStringLiteral("An idle keep-alive connection is closed after this many milliseconds "
                       "(default 30000)."),
        QStringLiteral("ms")));
    options.append(QCommandLineOption(QStringLiteral("access-log"),
        QStringLiteral("Log one line per request: on or off (default on when headless)."),
        QStringLiteral("on|off")));
    return options;
}

} // namespace

void ServiceOptions::addTo(QCommandLineParser &parser)
{
    parser.addOptions(declaredOptions());
}

QStringList ServiceOptions::optionNames()
{
    QStringList names;
    for (const QCommandLineOption &option : declaredOptions())
        names += option.names();
    return names;
}

std::optional<ServiceOptions> ServiceOptions::from(const QCommandLineParser &parser,
    const QProcessEnvironment &env, const QVariantMap &saved, QString *error)
{
    ServiceOptions o;
    QString problem;
    auto fail = [&](const QString &message) -> std::optional<ServiceOptions> {
        if (error)
            *error = message;
        return std::nullopt;
    };

    // The config file: --config, else CACHEDASH_CONFIG.
    QVariantMap file;
    if (parser.isSet(QStringLiteral("config")))
        o.configFile = parser.value(QStringLiteral("config"));
    else
        o.configFile = env.value(QStringLiteral("CACHEDASH_CONFIG"));
    if (!o.configFile.isEmpty()) {
        const auto read = readConfigFile(o.configFile, optionNames(), &problem);
        if (!read)
            return fail(QStringLiteral("--config: %1").arg(problem));
        file = *read;
    }
    const OptionSources in(parser, env, file, o.configFile, saved);

    for (const char *name : {"headless", "private-redis", "redis-insecure-skip-tls-verify"}) {
        const QString problem = in.flagProblem(QLatin1String(name));
        if (!problem.isEmpty())
            return fail(problem);
    }
    o.headless = in.flag(QStringLiteral("headless"));
    o.privateRedis = in.flag(QStringLiteral("private-redis"));

    // The Redis URL: --redis-url, then CACHEDASH_REDIS_URL, then REDIS_URL. Never saved: the window
    // uses what it is started with.
    std::optional<OptionSources::Value> url;
    if (parser.isSet(QStringLiteral("redis-url")))
        url = OptionSources::Value{parser.value(QStringLiteral("redis-url")), QStringLiteral("--redis-url")};
    else if (env.contains(QStringLiteral("CACHEDASH_REDIS_URL")))
        url = OptionSources::Value{
            env.value(QStringLiteral("CACHEDASH_REDIS_URL")), QStringLiteral("CACHEDASH_REDIS_URL")};
    else if (env.contains(QStringLiteral("REDIS_URL")))
        url = OptionSources::Value{env.value(QStringLiteral("REDIS_URL")), QStringLiteral("REDIS_URL")};
    else if (file.contains(QStringLiteral("redis-url")))
        url = OptionSources::Value{OptionSources::text(file.value(QStringLiteral("redis-url"))),
            QStringLiteral("redis-url in %1").arg(o.configFile)};
    if (o.privateRedis && parser.isSet(QStringLiteral("redis-url")))
        return fail(QStringLiteral("--private-redis and --redis-url contradict each other: choose one"));
    if (url && !o.privateRedis) {
        const auto parsed = RedisUrl::parse(url->text, &problem);
        if (!parsed)
            return fail(QStringLiteral("%1: %2").arg(url->origin, problem));
        o.redisUrl = *parsed;
        o.redisUrlGiven = true;
    }

    // TLS files: they must exist now; what is in them is read when the service starts.
    const std::pair<const char *, QString RedisTlsOptions::*> files[] = {
        {"redis-ca-cert", &RedisTlsOptions::caCertFile},
        {"redis-client-cert", &RedisTlsOptions::clientCertFile},
        {"redis-client-key", &RedisTlsOptions::clientKeyFile},
    };
    QStringList tlsGiven;
    for (const auto &[name, field] : files) {
        const auto v = in.value(QLatin1String(name));
        if (!v)
            continue;
        if (!o.redisUrl.tls)
            return fail(
                QStringLiteral("%1 applies to TLS only, and the Redis URL is not rediss://").arg(v->origin));
        const QFileInfo file(v->text);
        if (!file.isFile() || !file.isReadable())
            return fail(QStringLiteral("%1: %2 is not a readable file").arg(v->origin, v->text.left(200)));
        o.redisTls.*field = v->text;
    }
    o.redisTls.insecureSkipVerify = in.flag(QStringLiteral("redis-insecure-skip-tls-verify"));
    if (o.redisTls.insecureSkipVerify) {
        const QString origin = in.flagOrigin(QStringLiteral("redis-insecure-skip-tls-verify"));
        if (!o.redisUrl.tls)
            return fail(
                QStringLiteral("%1 applies to TLS only, and the Redis URL is not rediss://").arg(origin));
        // Nothing is verified, so a CA would be ignored: say so rather than pretend.
        if (!o.redisTls.caCertFile.isEmpty())
            return fail(QStringLiteral("%1 and --redis-ca-cert contradict each other: with it nothing is "
                                       "verified; choose one")
                            .arg(origin));
    }

    if (const auto bind = in.value(QStringLiteral("bind"))) {
        QHostAddress address;
        if (bind->text == u"localhost")
            address = QHostAddress(QHostAddress::LocalHost);
        else if (!address.setAddress(bind->text))
            return fail(QStringLiteral("%1 must be an IP address such as 127.0.0.1 or 0.0.0.0 (got \"%2\")")
                            .arg(bind->origin, bind->text.left(40)));
        o.bindAddress = address;
    }

    // The numeric options: name, range, and where the value goes.
    struct Numeric
    {
        const char *name;
        qint64 min;
        qint64 max;
        qint64 (*get)(const ServiceOptions &);
        void (*set)(ServiceOptions &, qint64);
    };
    static const Numeric numeric[] = {
        {"port", 0, 65535, [](const ServiceOptions &x) -> qint64 { return x.port; },
            [](ServiceOptions &x, qint64 v) { x.port = quint16(v); }},
        {"redis-timeout-ms", 10, 60'000,
            [](const ServiceOptions &x) -> qint64 { return x.redisTimeout.count(); },
            [](ServiceOptions &x, qint64 v) { x.redisTimeout = milliseconds(v); }},
        {"report-delay-ms", 0, 600'000,
            [](const ServiceOptions &x) -> qint64 { return x.reportDelay.count(); },
            [](ServiceOptions &x, qint64 v) { x.reportDelay = milliseconds(v); }},
        {"cache-ttl", 1, 86'400 * 365, [](const ServiceOptions &x) -> qint64 { return x.cacheTtl.count(); },
            [](ServiceOptions &x, qint64 v) { x.cacheTtl = seconds(v); }},
        {"cache-ttl-jitter", 0, 86'400,
            [](const ServiceOptions &x) -> qint64 { return x.cacheTtlJitter.count(); },
            [](ServiceOptions &x, qint64 v) { x.cacheTtlJitter = seconds(v); }},
        {"stale-while-revalidate", 0, 86'400,
            [](const ServiceOptions &x) -> qint64 { return x.staleWhileRevalidate.count(); },
            [](ServiceOptions &x, qint64 v) { x.staleWhileRevalidate = seconds(v); }},
        {"max-connections", 1, 1'000'000, [](const ServiceOptions &x) -> qint64 { return x.maxConnections; },
            [](ServiceOptions &x, qint64 v) { x.maxConnections = int(v); }},
        {"max-computations", 1, 1'000'000,
            [](const ServiceOptions &x) -> qint64 { return x.maxComputations; },
            [](ServiceOptions &x, qint64 v) { x.maxComputations = int(v); }},
        {"request-timeout-ms", 100, 3'600'000,
            [](const ServiceOptions &x) -> qint64 { return x.requestTimeout.count(); },
            [](ServiceOptions &x, qint64 v) { x.requestTimeout = milliseconds(v); }},
        {"idle-timeout-ms", 100, 3'600'000,
            [](const ServiceOptions &x) -> qint64 { return x.idleTimeout.count(); },
            [](ServiceOptions &x, qint64 v) { x.idleTimeout = milliseconds(v); }},
    };
    for (const Numeric &option : numeric) {
        qint64 value = option.get(o);
        if (!in.readInt(QLatin1String(option.name), option.min, option.max, value, error))
            return std::nullopt;
        option.set(o, value);
    }

    // The limits: N/DURATION each, or a bare N per --rate-window.
    qint64 rateWindow = 10;
    if (!in.readInt(QStringLiteral("rate-window"), 1, 86'400, rateWindow, error))
        return std::nullopt;
    const auto readLimits = [&](const QString &name, std::optional<seconds> bare, QList<RateLimit> &out) {
        const OptionSources::Values given = in.values(name);
        if (given.texts.isEmpty()) {
            // Set but empty: the refresh route has no limit then; the report route needs one.
            if (given.origin.isEmpty())
                return true; // not given: the default
            if (!bare) {
                out.clear();
                return true;
            }
            problem = QStringLiteral("%1 is empty: give a limit such as 5/10s").arg(given.origin);
            return false;
        }
        out.clear();
        for (const QString &text : given.texts) {
            const auto limit = RateLimit::parse(text, bare, &problem);
            if (!limit) {
                problem = QStringLiteral("%1: %2").arg(given.origin, problem);
                return false;
            }
            out.append(*limit);
        }
        return true;
    };
    o.rateLimits.limits = {{5, seconds(rateWindow)}};
    if (!readLimits(QStringLiteral("rate-limit"), seconds(rateWindow), o.rateLimits.limits)
        || !readLimits(QStringLiteral("refresh-rate-limit"), std::nullopt, o.refreshRateLimits))
        return fail(problem);
    if (const auto algorithm = in.value(QStringLiteral("rate-algorithm"))) {
        const auto a = algorithmFromName(algorithm->text);
        if (!a)
            return fail(QStringLiteral("%1 must be sliding-log, gcra or sliding-window-counter (got \"%2\")")
                            .arg(algorithm->origin, algorithm->text.left(40)));
        o.rateLimits.algorithm = *a;
    }
    if (const auto mode = in.value(QStringLiteral("rate-limit-mode"))) {
        const auto m = modeFromName(mode->text);
        if (!m)
            return fail(QStringLiteral("%1 must be enforce or shadow (got \"%2\")")
                            .arg(mode->origin, mode->text.left(40)));
        o.rateLimits.mode = *m;
    }

    if (const auto policy = in.value(QStringLiteral("rate-limit-on-error"))) {
        if (policy->text == u"allow")
            o.rateLimitOnError = RateLimiter::OnError::Allow;
        else if (policy->text == u"deny")
            o.rateLimitOnError = RateLimiter::OnError::Deny;
        else
            return fail(QStringLiteral("%1 must be allow or deny (got \"%2\")")
                            .arg(policy->origin, policy->text.left(40)));
    }
    if (const auto token = in.value(QStringLiteral("admin-token"))) {
        const QString trimmed = token->text.trimmed();
        if (trimmed.size() < 16 || trimmed.contains(u' '))
            return fail(
                QStringLiteral("%1 must be at least 16 characters, without spaces").arg(token->origin));
        o.adminToken = trimmed.toUtf8();
    }
    o.trustedProxies = in.values(QStringLiteral("trusted-proxy")).texts;
    for (const QString &proxy : std::as_const(o.trustedProxies)) {
        ClientIdentity check;
        if (!check.addTrustedProxy(proxy, &problem))
            return fail(QStringLiteral("trusted proxy: %1").arg(problem));
    }
    const OptionSources::Values exempt = in.values(QStringLiteral("rate-limit-exempt"));
    o.rateLimitExempt = exempt.texts;
    const QHash<QString, QString> origins{
        {QStringLiteral("rate-limit"), in.values(QStringLiteral("rate-limit")).origin},
        {QStringLiteral("refresh-rate-limit"), in.values(QStringLiteral("refresh-rate-limit")).origin},
        {QStringLiteral("rate-limit-exempt"), exempt.origin},
    };
    problem = problemWith(o.liveSettings(), &origins);
    if (!problem.isEmpty())
        return fail(problem);
    if (const auto log = in.value(QStringLiteral("access-log"))) {
        const QString v = log->text.toLower();
        if (v == u"on" || v == u"true" || v == u"1")
            o.accessLog = true;
        else if (v == u"off" || v == u"false" || v == u"0")
            o.accessLog = false;
        else
            return fail(
                QStringLiteral("%1 must be on or off (got \"%2\")").arg(log->origin, log->text.left(40)));
    }
    return o;
}

QString ServiceOptions::problemWith(const LiveSettings &settings, const QHash<QString, QString> *origins)
{
    // How to name an option in an error: where its value came from, when known.
    const auto named = [origins](const char *option) {
        const QString name = QLatin1String(option);
        const QString origin = origins ? origins->value(name) : QString();
        return origin.isEmpty() ? QStringLiteral("--") + name : origin;
    };
    const auto check
        = [&named](const QList<RateLimit> &limits, const RateLimitPolicy &policy, const char *option) {
              for (qsizetype i = 0; i < limits.size(); ++i) {
                  for (qsizetype k = 0; k < i; ++k) {
                      if (limits[k].window == limits[i].window)
                          return QStringLiteral("%1: %2 and %3 have the same window: keep one")
                              .arg(named(option), limits[k].text(), limits[i].text());
                  }
                  // The counter's arithmetic stays exact in a double while N x W (ms) <= 2^53.
                  if (policy.algorithm == RateAlgorithm::SlidingWindowCounter
                      && double(limits[i].limit) * double(limits[i].windowMs().count()) > 9007199254740992.0)
                      return QStringLiteral("%1: %2 is too large for sliding-window-counter: N x window must "
                                            "stay within 2^53 ms (about 1000000000/2h)")
                          .arg(named(option), limits[i].text());
              }
              return QString();
          };
    if (settings.rateLimits.limits.isEmpty())
        return QStringLiteral("--rate-limit: the report route needs at least one limit");
    QString problem = check(settings.rateLimits.limits, settings.rateLimits, "rate-limit");
    if (problem.isEmpty())
        problem = check(settings.refreshRateLimits, settings.rateLimits, "refresh-rate-limit");
    if (!problem.isEmpty())
        return problem;
    AddressRanges ranges;
    for (const QString &range : settings.rateLimitExempt) {
        if (!ranges.add(range, &problem))
            return QStringLiteral("%1: %2").arg(named("rate-limit-exempt"), problem);
    }
    return QString();
}

} // namespace Cachedash
