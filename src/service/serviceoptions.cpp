// SPDX-License-Identifier: GPL-3.0-or-later
#include "serviceoptions.h"

#include "http/addressranges.h"
#include "http/clientidentity.h"

#include <QCommandLineParser>
#include <QFileInfo>
#include <QVariantMap>

using namespace std::chrono;

namespace Cachedash {

namespace {

// Where each option's value comes from; the first that has it wins: the command line, then the
// environment (CACHEDASH_<NAME>), then the window's saved settings.
class OptionSources
{
public:
    struct Value
    {
        QString text;
        QString origin; // how to name it in an error: --port, CACHEDASH_PORT, the saved setting
    };

    OptionSources(const QCommandLineParser &parser, const QProcessEnvironment &env, const QVariantMap &saved)
        : m_parser(parser)
        , m_env(env)
        , m_saved(saved)
    { }

    static QString envName(const QString &option)
    {
        return QStringLiteral("CACHEDASH_") + option.toUpper().replace(u'-', u'_');
    }

    std::optional<Value> value(const QString &name) const
    {
        if (m_parser.isSet(name))
            return Value{m_parser.value(name), QStringLiteral("--") + name};
        if (m_env.contains(envName(name)))
            return Value{m_env.value(envName(name)), envName(name)};
        if (m_saved.contains(name))
            return Value{m_saved.value(name).toString(), QStringLiteral("the saved setting %1").arg(name)};
        return std::nullopt;
    }

    bool flag(const QString &name) const
    {
        if (m_parser.isSet(name))
            return true;
        const QString v = m_env.value(envName(name)).toLower();
        return v == u"1" || v == u"true" || v == u"on" || v == u"yes";
    }

    QStringList values(const QString &name) const
    {
        if (m_parser.isSet(name))
            return m_parser.values(name);
        if (m_env.contains(envName(name)))
            return m_env.value(envName(name)).split(u',', Qt::SkipEmptyParts);
        return {};
    }

    bool readInt(const QString &name, qint64 min, qint64 max, qint64 &out, QString *error) const
    {
        const std::optional<Value> v = value(name);
        if (!v)
            return true;
        bool ok = false;
        const qint64 number = v->text.trimmed().toLongLong(&ok);
        if (!ok || number < min || number > max) {
            if (error)
                *error = QStringLiteral("%1 must be a whole number from %2 to %3 (got \"%4\")")
                             .arg(v->origin)
                             .arg(min)
                             .arg(max)
                             .arg(v->text.left(40));
            return false;
        }
        out = number;
        return true;
    }

private:
    const QCommandLineParser &m_parser;
    const QProcessEnvironment &m_env;
    const QVariantMap &m_saved;
};

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
        QStringLiteral("Redis to use: redis://[[user]:password@]host[:port][,host:port...][/db] "
                       "(a server, or any node of a Redis Cluster), "
                       "redis+sentinel://[[user]:password@]host:port[,host:port...]/MASTER_NAME[/db] or "
                       "unix:///path/to/redis.sock[?db=N] (default redis://127.0.0.1:6379; "
                       "also REDIS_URL or CACHEDASH_REDIS_URL). Over TLS: rediss://... or "
                       "rediss+sentinel://..., the same forms (to every node, sentinel and master; "
                       "see --redis-ca-cert)."),
        QStringLiteral("url")));
    parser.addOption(QCommandLineOption(QStringLiteral("redis-ca-cert"),
        QStringLiteral("For rediss://: trust the CAs in this PEM file instead of the system's."),
        QStringLiteral("file")));
    parser.addOption(QCommandLineOption(QStringLiteral("redis-client-cert"),
        QStringLiteral("For rediss://: present this PEM certificate to the server (mutual TLS; "
                       "with --redis-client-key)."),
        QStringLiteral("file")));
    parser.addOption(QCommandLineOption(QStringLiteral("redis-client-key"),
        QStringLiteral("For rediss://: the private key (PEM, not encrypted) of --redis-client-cert."),
        QStringLiteral("file")));
    parser.addOption(QCommandLineOption(QStringLiteral("redis-insecure-skip-tls-verify"),
        QStringLiteral("For rediss://: accept any certificate for any name. Anyone on the path can "
                       "then read and change the traffic; for testing only, and logged on every connect.")));
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
    parser.addOption(QCommandLineOption(QStringLiteral("admin-token"),
        QStringLiteral(
            "Require \"Authorization: Bearer TOKEN\" on POST /reports/{region}/refresh and on "
            "/ratelimit/{client} "
            "(at least 16 characters; better given as CACHEDASH_ADMIN_TOKEN than on the command line)."),
        QStringLiteral("token")));
    parser.addOption(QCommandLineOption(QStringLiteral("rate-limit-exempt"),
        QStringLiteral("An address or CIDR range never rate limited, nor counted (repeatable)."),
        QStringLiteral("cidr")));
    parser.addOption(QCommandLineOption(QStringLiteral("trusted-proxy"),
        QStringLiteral("A proxy address or CIDR range whose X-Forwarded-For is believed (repeatable)."),
        QStringLiteral("cidr")));
    parser.addOption(QCommandLineOption(QStringLiteral("max-connections"),
        QStringLiteral("Open HTTP connections at most; beyond, the longest idle one is closed to make "
                       "room, or the new one gets 503 (default 4096)."),
        QStringLiteral("n")));
    parser.addOption(QCommandLineOption(QStringLiteral("max-computations"),
        QStringLiteral("Distinct reports computed at once at most; a miss beyond gets 503 with "
                       "Retry-After (default 100)."),
        QStringLiteral("n")));
    parser.addOption(QCommandLineOption(QStringLiteral("request-timeout-ms"),
        QStringLiteral("A request must arrive whole within this many milliseconds of its first byte, "
                       "else 408 (default 10000)."),
        QStringLiteral("ms")));
    parser.addOption(QCommandLineOption(QStringLiteral("idle-timeout-ms"),
        QStringLiteral("An idle keep-alive connection is closed after this many milliseconds "
                       "(default 30000)."),
        QStringLiteral("ms")));
    parser.addOption(QCommandLineOption(QStringLiteral("access-log"),
        QStringLiteral("Log one line per request: on or off (default on when headless)."),
        QStringLiteral("on|off")));
}

std::optional<ServiceOptions> ServiceOptions::from(const QCommandLineParser &parser,
    const QProcessEnvironment &env, const QVariantMap &saved, QString *error)
{
    const OptionSources in(parser, env, saved);
    ServiceOptions o;
    QString problem;
    auto fail = [&](const QString &message) -> std::optional<ServiceOptions> {
        if (error)
            *error = message;
        return std::nullopt;
    };

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
        const QString origin = parser.isSet(QStringLiteral("redis-insecure-skip-tls-verify"))
            ? QStringLiteral("--redis-insecure-skip-tls-verify")
            : QStringLiteral("CACHEDASH_REDIS_INSECURE_SKIP_TLS_VERIFY");
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
        {"rate-limit", 1, 1'000'000'000, [](const ServiceOptions &x) -> qint64 { return x.rateLimit; },
            [](ServiceOptions &x, qint64 v) { x.rateLimit = int(v); }},
        {"rate-window", 1, 86'400, [](const ServiceOptions &x) -> qint64 { return x.rateWindow.count(); },
            [](ServiceOptions &x, qint64 v) { x.rateWindow = seconds(v); }},
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

    if (const auto policy = in.value(QStringLiteral("rate-limit-on-error"))) {
        if (policy->text == u"allow")
            o.rateLimitOnError = SlidingWindowLimiter::OnError::Allow;
        else if (policy->text == u"deny")
            o.rateLimitOnError = SlidingWindowLimiter::OnError::Deny;
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
    o.trustedProxies = in.values(QStringLiteral("trusted-proxy"));
    for (const QString &proxy : std::as_const(o.trustedProxies)) {
        ClientIdentity check;
        if (!check.addTrustedProxy(proxy, &problem))
            return fail(QStringLiteral("trusted proxy: %1").arg(problem));
    }
    o.rateLimitExempt = in.values(QStringLiteral("rate-limit-exempt"));
    for (const QString &range : std::as_const(o.rateLimitExempt)) {
        if (!AddressRanges().add(range, &problem))
            return fail(QStringLiteral("--rate-limit-exempt: %1").arg(problem));
    }
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

} // namespace Cachedash
