// SPDX-License-Identifier: GPL-3.0-or-later
#include "redisrouter.h"
#include "redisrouter_p.h"

#include "keyslot.h"
#include "redislogging.h"
#include "redistls.h"
#include "sentinelresolver.h"

#include <QPointer>

#include <qcoro/qcorosignal.h>

#include <algorithm>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace Cachedash {

using detail::finished;
using detail::PendingCommand;

RedisRouter::RedisRouter(RedisUrl url, QObject *parent)
    : RedisRouter(std::move(url), Options{}, parent)
{ }

RedisRouter::RedisRouter(RedisUrl url, Options options, QObject *parent)
    : QObject(parent)
    , m_url(std::move(url))
    , m_options(options)
    , m_sleeper(std::make_unique<Sleeper>())
{
    m_slots.assign(size_t(ClusterSlots), nullptr);
    connect(&m_refreshTimer, &QTimer::timeout, this, &RedisRouter::requestRefresh);
    m_refreshSoon.setSingleShot(true);
    connect(&m_refreshSoon, &QTimer::timeout, this, &RedisRouter::requestRefresh);
}

RedisRouter::~RedisRouter()
{
    // Every command in flight completes here, while the router is whole.
    close();
}

void RedisRouter::setUrl(const RedisUrl &url)
{
    if (!m_open)
        m_url = url;
}

RedisClient::Options RedisRouter::clientOptions() const
{
    RedisClient::Options options = m_options.client;
    if (m_url.sentinel) {
        // Where to reconnect is the sentinels' to say, and only a master will do.
        options.reconnect = false;
        options.requireMaster = true;
    }
    return options;
}

RedisClient::Options RedisRouter::probeOptions() const
{
    // A connection that asks one thing: quiet, and given up at its first failure.
    RedisClient::Options options = clientOptions();
    options.logConnections = false;
    options.reconnect = false;
    return options;
}

void RedisRouter::open()
{
    if (m_open)
        return;
    m_open = true;
    ++m_generation;
    m_misconfigured.clear();
    m_seedsRefused = false;
    m_lastError.clear();
    m_resolving = false;
    m_refreshing = false;
    m_single.reset();
    m_servers.clear();
    std::fill(m_slots.begin(), m_slots.end(), nullptr);
    m_map = ClusterMap();
    m_master = RedisUrl::Address();
    m_masterBackoff = m_options.client.minReconnectDelay;
    m_sleeper = std::make_unique<Sleeper>();

    if (m_url.sentinel) {
        setMode(Mode::Sentinel);
        m_single = std::make_unique<RedisClient>(m_url, clientOptions());
        wire(*m_single);
        m_sentinel = std::make_unique<SentinelResolver>(
            m_url, m_options.client.connectTimeout, m_options.client.tls);
        connect(m_sentinel.get(), &SentinelResolver::masterSwitched, this, &RedisRouter::pointAtMaster);
        m_sentinel->watch();
        resolveMaster(m_generation, 0ms);
        return;
    }
    if (m_url.transport == RedisUrl::Transport::Unix || !m_options.detectCluster) {
        auto client = std::make_unique<RedisClient>(m_url, clientOptions());
        client->open();
        adoptStandalone(std::move(client));
        return;
    }
    setMode(Mode::Unknown);
    discover(m_generation);
}

void RedisRouter::close()
{
    if (!m_open)
        return;
    m_open = false;
    ++m_generation;
    m_refreshTimer.stop();
    m_refreshSoon.stop();
    if (m_sentinel)
        m_sentinel->stop();
    // Commands in flight complete with Closed, then backoffs end; what they resume finds every
    // connection closed. The objects stay until the next open(): close() may run inside one of
    // their callbacks.
    if (m_single)
        m_single->close();
    for (auto &[address, server] : m_servers)
        server->client->close();
    m_sleeper->cancelAll();
    updateReady();
}

QCoro::Task<bool> RedisRouter::waitForReady(milliseconds timeout, bool untilRefused)
{
    QPointer<RedisRouter> self(this);
    const auto deadline = steady_clock::now() + timeout;
    while (!isReady()) {
        if (!m_open || (untilRefused && refused()))
            co_return false;
        const auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
        if (left <= 0ms)
            co_return false;
        // attemptFailed() wakes the wait too, to look at refused().
        if (untilRefused)
            co_await qCoro(this, &RedisRouter::attemptFailed, left);
        else
            co_await qCoro(this, &RedisRouter::readyChanged, left);
        if (!self)
            co_return false;
    }
    co_return true;
}

bool RedisRouter::refused() const
{
    switch (m_mode) {
    case Mode::Standalone: return m_single && m_single->refused();
    case Mode::Sentinel: return (m_sentinel && m_sentinel->refused()) || (m_single && m_single->refused());
    case Mode::Cluster: return false;
    case Mode::Unknown: break;
    }
    return m_seedsRefused;
}

void RedisRouter::setMode(Mode mode)
{
    if (m_mode == mode)
        return;
    m_mode = mode;
    Q_EMIT modeChanged(mode);
    Q_EMIT topologyChanged();
}

void RedisRouter::setError(const QString &message)
{
    if (message == m_lastError)
        return;
    m_lastError = message;
    if (!message.isEmpty())
        Q_EMIT errorOccurred(message);
}

bool RedisRouter::isReady() const
{
    if (!m_open)
        return false;
    switch (m_mode) {
    case Mode::Standalone:
    case Mode::Sentinel: return m_single && m_single->isReady();
    case Mode::Cluster:
        if (m_map.isEmpty())
            return false;
        for (const RedisUrl::Address &primary : m_map.primaries()) {
            const auto it = m_servers.find(primary.toString());
            if (it == m_servers.end() || !it->second->client->isReady())
                return false;
        }
        return true;
    case Mode::Unknown: return false;
    }
    return false;
}

void RedisRouter::updateReady()
{
    const bool ready = isReady();
    if (ready != m_ready) {
        m_ready = ready;
        Q_EMIT readyChanged(ready);
        if (ready)
            Q_EMIT attemptFailed(); // wakes a waitForReady(..., true) too
    }
}

QString RedisRouter::lastError() const
{
    if (!m_misconfigured.isEmpty())
        return m_misconfigured;
    if (m_single && !m_single->lastError().isEmpty())
        return m_single->lastError();
    for (const auto &[address, server] : m_servers) {
        if (server->primary && !server->client->lastError().isEmpty())
            return address + QStringLiteral(": ") + server->client->lastError();
    }
    return m_lastError;
}

QString RedisRouter::describe() const
{
    switch (m_mode) {
    case Mode::Standalone: return QStringLiteral("standalone");
    case Mode::Cluster: return QStringLiteral("cluster, %1 primaries").arg(m_map.primaries().size());
    case Mode::Sentinel:
        return m_master.port
            ? QStringLiteral("sentinel, master %1 at %2").arg(m_url.masterName, m_master.toString())
            : QStringLiteral("sentinel, master %1 not found yet").arg(m_url.masterName);
    case Mode::Unknown: break;
    }
    return QStringLiteral("connecting");
}

QString RedisRouter::transport() const
{
    if (m_url.transport == RedisUrl::Transport::Unix)
        return QStringLiteral("unix socket");
    if (!m_url.tls)
        return QStringLiteral("plain TCP");
    return m_options.client.tls ? m_options.client.tls->describe() : QStringLiteral("TLS, not configured");
}

void RedisRouter::wire(RedisClient &client)
{
    RedisClient *c = &client;
    connect(c, &RedisClient::stateChanged, this, [this, c] { onClientState(c); });
    connect(c, &RedisClient::topologyReply, this,
        [this, c](const QByteArray &error) { onTopologyReply(c, error); });
    connect(c, &RedisClient::disconnected, this, [this, c] {
        Q_EMIT attemptFailed();
        if (m_mode != Mode::Sentinel || c != m_single.get())
            return;
        // Ask the sentinels again, backing off while the master they name does not answer.
        const milliseconds delay = m_masterBackoff;
        m_masterBackoff = std::min(m_masterBackoff * 2, m_options.client.maxReconnectDelay);
        resolveMaster(m_generation, delay);
    });
    connect(c, &RedisClient::errorOccurred, this, &RedisRouter::errorOccurred);
}

void RedisRouter::onClientState(RedisClient *client)
{
    if (client->isReady()) {
        loadScripts(*client);
        if (client == m_single.get())
            m_masterBackoff = m_options.client.minReconnectDelay;
    } else if (m_mode == Mode::Cluster)
        requestRefresh(); // a lost primary: has its replica taken over?
    if (m_mode == Mode::Cluster)
        Q_EMIT topologyChanged();
    updateReady();
}

void RedisRouter::onTopologyReply(RedisClient *client, const QByteArray &error)
{
    if (m_mode == Mode::Cluster || client != m_single.get())
        return; // the cluster's own redirections are handled where the command is
    if (m_mode == Mode::Sentinel) {
        if (error.startsWith("READONLY")) {
            // The master we know was demoted: drop it (ROLE on the next connection tells) and ask
            // the sentinels again.
            ++m_stats.readOnly;
            qCWarning(lcRedis).noquote() << "sentinel: the master at" << m_master.toString()
                                         << "answered READONLY; asking the sentinels again";
            QTimer::singleShot(0, this, [this, generation = m_generation] {
                if (generation == m_generation && m_single)
                    m_single->reconnectTo(m_single->url(), true);
            });
        }
        return;
    }
    if (!error.startsWith("MOVED ") && !error.startsWith("ASK "))
        return;
    ++m_stats.unexpectedRedirects;
    const QString message = QStringLiteral(
        "Redis at %1 answered \"%2\": it is a cluster node, but the connection is not in cluster mode")
                                .arg(m_url.toDisplayString(), QString::fromUtf8(error.left(80)));
    if (m_misconfigured.isEmpty()) {
        qCCritical(lcRedis).noquote() << message;
        Q_EMIT errorOccurred(message);
    }
    m_misconfigured = message;
    if (m_options.detectCluster) {
        // Ask again: a server restarted as a cluster node is used as one.
        QTimer::singleShot(0, this, [this, generation = m_generation] {
            if (generation != m_generation || m_mode != Mode::Standalone)
                return;
            std::fill(m_slots.begin(), m_slots.end(), nullptr);
            setMode(Mode::Unknown);
            discover(m_generation);
        });
    }
}

void RedisRouter::registerScript(const RedisScript &script)
{
    for (const RedisScript &known : std::as_const(m_scripts)) {
        if (known.sha1() == script.sha1())
            return;
    }
    m_scripts.append(script);
    if (m_single && m_single->isReady())
        loadScripts(*m_single);
    for (const auto &[address, server] : m_servers) {
        if (server->client->isReady())
            loadScripts(*server->client);
    }
}

void RedisRouter::loadScripts(RedisClient &client)
{
    // Fire and forget: a script missing anyway (NOSCRIPT) is sent whole by evalScript().
    for (const RedisScript &script : std::as_const(m_scripts))
        client.scriptLoad(script.source());
}

void RedisRouter::adoptStandalone(std::unique_ptr<RedisClient> client)
{
    if (client->isReady())
        qCInfo(lcRedis).noquote() << "connected to" << client->url().toDisplayString();
    client->setLogConnections(m_options.client.logConnections);
    client->setReconnect(m_options.client.reconnect);
    wire(*client);
    m_single = std::move(client);
    setMode(Mode::Standalone);
    if (m_single->isReady())
        loadScripts(*m_single);
    updateReady();
}

RedisPendingReply RedisRouter::command(QByteArrayView key, const QByteArrayList &args)
{
    if (m_mode == Mode::Cluster)
        return routed(keySlot(key), args);
    if (m_single && m_mode != Mode::Unknown)
        return m_single->command(args);
    return finished(
        RedisReply::failure(m_open ? RedisReply::Failure::NotConnected : RedisReply::Failure::Closed,
            m_open ? QStringLiteral("not connected to Redis yet") : QString()));
}

RedisPendingReply RedisRouter::command(const QByteArrayList &args)
{
    if (m_mode != Mode::Cluster)
        return command(QByteArrayView(), args);
    // Any connected primary will do.
    Server *any = nullptr;
    for (const auto &[address, server] : m_servers) {
        if (server->primary && (!any || server->client->isReady()))
            any = server.get();
    }
    if (!any)
        return finished(
            RedisReply::failure(RedisReply::Failure::NotConnected, QStringLiteral("no cluster node known")));
    return any->client->command(args);
}

RedisPendingReply RedisRouter::set(
    const QByteArray &key, const QByteArray &value, milliseconds ttl, RedisClient::SetCondition condition)
{
    return command(key, RedisClient::setCommand(key, value, ttl, condition));
}

QCoro::Task<RedisReply> RedisRouter::failed(RedisReply reply)
{
    co_return reply;
}

QCoro::Task<RedisReply> RedisRouter::evalScript(
    const RedisScript &script, const QByteArrayList &keys, const QByteArrayList &args)
{
    if (m_mode == Mode::Cluster)
        return clusterEval(script, keys, args);
    if (m_single && m_mode != Mode::Unknown)
        return m_single->evalScript(script, keys, args);
    return failed(
        RedisReply::failure(m_open ? RedisReply::Failure::NotConnected : RedisReply::Failure::Closed,
            m_open ? QStringLiteral("not connected to Redis yet") : QString()));
}

QString RedisRouter::nodeFor(QByteArrayView key) const
{
    if (m_mode == Mode::Cluster) {
        Server *server = m_slots[size_t(keySlot(key))];
        return server ? server->address.toString() : QString();
    }
    if (m_mode == Mode::Sentinel)
        return m_master.port ? m_master.toString() : QString();
    if (m_mode == Mode::Standalone && m_single) {
        const RedisUrl &url = m_single->url();
        return url.transport == RedisUrl::Transport::Unix ? url.socketPath
                                                          : RedisUrl::Address{url.host, url.port}.toString();
    }
    return {};
}

void RedisRouter::beforeNextWrite(QByteArrayView key, std::function<void()> gather)
{
    if (RedisClient *client = clientFor(key))
        client->beforeNextWrite(std::move(gather));
    else
        gather();
}

void RedisRouter::flush(QByteArrayView key)
{
    if (RedisClient *client = clientFor(key))
        client->flush();
}

QCoro::Task<> RedisRouter::resolveMaster(quint64 generation, milliseconds delay)
{
    if (m_resolving || generation != m_generation)
        co_return;
    m_resolving = true;
    QPointer<RedisRouter> self(this);
    milliseconds backoff = std::max(delay, m_options.client.minReconnectDelay);
    if (delay > 0ms) {
        Sleeper::Wait wait = m_sleeper->sleep(delay);
        const bool elapsed = co_await wait;
        if (!elapsed || !self || generation != m_generation)
            co_return;
    }
    while (true) {
        QCoro::Task<std::optional<RedisUrl::Address>> asking = m_sentinel->resolve();
        const std::optional<RedisUrl::Address> master = co_await asking;
        if (!self || generation != m_generation)
            co_return;
        if (master) {
            ++m_stats.refreshes;
            m_resolving = false;
            pointAtMaster(*master);
            co_return;
        }
        const QString message = QStringLiteral("cannot find master %1 through the sentinels: %2")
                                    .arg(m_url.masterName, m_sentinel->lastError());
        // Before the first master, whoever waits for it says what went wrong (Service::start()).
        if (message != m_lastError && m_master.port != 0)
            qCWarning(lcRedis).noquote() << message;
        setError(message);
        Q_EMIT attemptFailed();
        Sleeper::Wait wait = m_sleeper->sleep(backoff);
        const bool elapsed = co_await wait;
        if (!elapsed || !self || generation != m_generation)
            co_return;
        backoff = std::min(backoff * 2, m_options.client.maxReconnectDelay);
    }
}

void RedisRouter::pointAtMaster(const RedisUrl::Address &address)
{
    if (!m_open || !m_single)
        return;
    if (m_master.port && address != m_master) {
        ++m_stats.failovers;
        qCWarning(lcRedis).noquote() << "sentinel: master" << m_url.masterName << "moved from"
                                     << m_master.toString() << "to" << address.toString();
    }
    const bool first = m_master.port == 0;
    m_master = address;
    setError(QString());
    const RedisUrl url = m_url.withAddress(address);
    if (m_single->state() == RedisClient::State::Disconnected) {
        if (first)
            qCInfo(lcRedis).noquote()
                << "sentinel: master" << m_url.masterName << "is at" << address.toString();
        m_single->setUrl(url);
        m_single->open();
    } else {
        m_single->reconnectTo(url);
    }
    Q_EMIT topologyChanged();
}

} // namespace Cachedash
