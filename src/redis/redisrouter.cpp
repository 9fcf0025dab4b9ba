// SPDX-License-Identifier: GPL-3.0-or-later
#include "redisrouter.h"

#include "keyslot.h"
#include "redislogging.h"
#include "sentinelresolver.h"

#include <QPointer>

#include <qcoro/qcorosignal.h>

#include <algorithm>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace Cachedash {

using detail::PendingCommand;

struct RedisRouter::Server
{
    RedisUrl::Address address;
    std::unique_ptr<RedisClient> client;
    bool primary = false;
};

namespace {

enum class Redirect { None, Moved, Ask, TryAgain, ClusterDown, ReadOnly };

Redirect redirectOf(const RedisReply &reply)
{
    if (!reply.isError())
        return Redirect::None;
    const QByteArray &text = reply.bytes();
    if (text.startsWith("MOVED "))
        return Redirect::Moved;
    if (text.startsWith("ASK "))
        return Redirect::Ask;
    if (text.startsWith("TRYAGAIN"))
        return Redirect::TryAgain;
    if (text.startsWith("CLUSTERDOWN"))
        return Redirect::ClusterDown;
    if (text.startsWith("READONLY"))
        return Redirect::ReadOnly;
    return Redirect::None;
}

// "MOVED 3999 127.0.0.1:6381" or "ASK 3999 :6381" (no host: the one that answered).
bool parseRedirect(const QByteArray &text, const QString &fallbackHost, int &slot, RedisUrl::Address &to)
{
    const QByteArrayList words = text.split(' ');
    if (words.size() < 3)
        return false;
    bool ok = false;
    slot = words[1].toInt(&ok);
    if (!ok || slot < 0 || slot >= ClusterSlots)
        return false;
    const QByteArray &endpoint = words[2];
    const qsizetype colon = endpoint.lastIndexOf(':');
    if (colon < 0)
        return false;
    const uint port = endpoint.mid(colon + 1).toUInt(&ok);
    if (!ok || port == 0 || port > 65535)
        return false;
    QByteArray host = endpoint.left(colon);
    if (host.startsWith('[') && host.endsWith(']'))
        host = host.mid(1, host.size() - 2);
    to.host = host.isEmpty() ? fallbackHost : QString::fromUtf8(host);
    to.port = quint16(port);
    return true;
}

RedisPendingReply finished(RedisReply reply)
{
    QExplicitlySharedDataPointer<PendingCommand> command(new PendingCommand);
    command->complete(std::move(reply));
    return RedisPendingReply(std::move(command));
}

} // namespace

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
        m_sentinel = std::make_unique<SentinelResolver>(m_url, m_options.client.connectTimeout);
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

QCoro::Task<bool> RedisRouter::waitForReady(milliseconds timeout)
{
    QPointer<RedisRouter> self(this);
    const auto deadline = steady_clock::now() + timeout;
    while (!isReady()) {
        if (!m_open)
            co_return false;
        const auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
        if (left <= 0ms)
            co_return false;
        co_await qCoro(this, &RedisRouter::readyChanged, left);
        if (!self)
            co_return false;
    }
    co_return true;
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

void RedisRouter::wire(RedisClient &client)
{
    RedisClient *c = &client;
    connect(c, &RedisClient::stateChanged, this, [this, c] { onClientState(c); });
    connect(c, &RedisClient::topologyReply, this,
        [this, c](const QByteArray &error) { onTopologyReply(c, error); });
    connect(c, &RedisClient::disconnected, this, [this, c] {
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

QCoro::Task<> RedisRouter::discover(quint64 generation)
{
    QPointer<RedisRouter> self(this);
    const QList<RedisUrl::Address> seeds = m_url.addresses();
    const milliseconds connectTimeout = m_options.client.connectTimeout;
    milliseconds backoff = m_options.client.minReconnectDelay;
    while (true) {
        QStringList problems;
        for (const RedisUrl::Address &seed : seeds) {
            auto client = std::make_unique<RedisClient>(m_url.withAddress(seed), probeOptions());
            client->open();
            const bool ready = co_await client->waitForReady(connectTimeout);
            if (!self || generation != m_generation)
                co_return;
            if (!ready) {
                // A seed that does not answer is skipped.
                problems.append(seed.toString() + QStringLiteral(": ")
                    + (client->lastError().isEmpty() ? QStringLiteral("no answer") : client->lastError()));
                continue;
            }
            const QByteArrayList ask{QByteArrayLiteral("CLUSTER"), QByteArrayLiteral("SLOTS")};
            RedisPendingReply asking = client->command(ask);
            const RedisReply reply = co_await asking;
            if (!self || generation != m_generation)
                co_return;
            if (reply.isError() && reply.bytes().contains("unknown command")) {
                // No CLUSTER command at all: a Sentinel, most likely, which stores nothing.
                const QByteArrayList role{QByteArrayLiteral("ROLE")};
                RedisPendingReply asked = client->command(role);
                const RedisReply what = co_await asked;
                if (!self || generation != m_generation)
                    co_return;
                if (what.isArray() && !what.elements().empty()
                    && what.elements().front().bytes() == "sentinel") {
                    problems.append(QStringLiteral(
                        "%1 is a Redis Sentinel, not a server: use redis+sentinel://%1/MASTER_NAME")
                                        .arg(seed.toString()));
                    continue;
                }
            }
            if (reply.isError()) {
                // "ERR This instance has cluster support disabled", or a server that does not let
                // us ask (ACLs, a managed Redis): one server.
                qCDebug(lcRedis).noquote()
                    << seed.toString() << "is not a cluster node:" << reply.errorText();
                if (!problems.isEmpty())
                    qCWarning(lcRedis).noquote() << "skipped:" << problems.join(QStringLiteral("; "));
                adoptStandalone(std::move(client));
                co_return;
            }
            QString why;
            const std::optional<ClusterMap> map = ClusterMap::fromClusterSlots(reply, seed, &why);
            if (map && !map->isEmpty()) {
                if (!problems.isEmpty())
                    qCWarning(lcRedis).noquote() << "skipped:" << problems.join(QStringLiteral("; "));
                qCInfo(lcRedis).noquote() << seed.toString() << "is a node of a Redis Cluster";
                m_misconfigured.clear();
                m_lastRefresh = steady_clock::now();
                ++m_stats.refreshes;
                setMode(Mode::Cluster);
                applyMap(*map, seed);
                m_refreshTimer.start(m_options.refreshInterval);
                co_return;
            }
            problems.append(seed.toString() + QStringLiteral(": ")
                + (map ? QStringLiteral("a cluster node with no slots assigned yet") : why));
        }
        setError(problems.size() == 1
                ? problems.first()
                : QStringLiteral("no seed could be used: ") + problems.join(QStringLiteral("; ")));
        Sleeper::Wait wait = m_sleeper->sleep(backoff);
        const bool elapsed = co_await wait;
        if (!elapsed || !self || generation != m_generation)
            co_return;
        backoff = std::min(backoff * 2, m_options.client.maxReconnectDelay);
    }
}

RedisRouter::Server &RedisRouter::serverAt(const RedisUrl::Address &address)
{
    const QString key = address.toString();
    auto it = m_servers.find(key);
    if (it == m_servers.end()) {
        auto server = std::make_unique<Server>();
        server->address = address;
        server->client = std::make_unique<RedisClient>(m_url.withAddress(address), clientOptions());
        wire(*server->client);
        server->client->open();
        it = m_servers.emplace(key, std::move(server)).first;
        Q_EMIT topologyChanged();
    }
    return *it->second;
}

bool RedisRouter::applyMap(const ClusterMap &map, const RedisUrl::Address &from)
{
    std::vector<Server *> primaries;
    for (const RedisUrl::Address &address : map.primaries()) {
        Server &server = serverAt(address);
        server.primary = true;
        primaries.push_back(&server);
    }
    for (int slot = 0; slot < ClusterSlots; ++slot) {
        const int owner = map.primaryOf(slot);
        m_slots[size_t(slot)] = owner >= 0 ? primaries[size_t(owner)] : nullptr;
    }
    for (auto &[address, server] : m_servers) {
        if (!map.primaries().contains(server->address))
            server->primary = false;
    }
    const bool changed = !(map == m_map);
    if (!m_map.isEmpty()) {
        const int failovers = map.failoversSince(m_map);
        if (failovers > 0) {
            m_stats.failovers += quint64(failovers);
            qCWarning(lcRedis).noquote()
                << "cluster: failover seen," << failovers << "primary replaced by its replica";
        }
    }
    m_map = map;
    if (changed) {
        QStringList shape;
        for (int i = 0; i < map.primaries().size(); ++i)
            shape.append(map.primaries()[i].toString() + QStringLiteral(" [") + map.slotsOf(i) + u']');
        if (map.uncoveredSlots() > 0)
            shape.append(QStringLiteral("%1 slots served by no node").arg(map.uncoveredSlots()));
        qCInfo(lcRedis).noquote() << "cluster map from" << from.toString() << "-"
                                  << shape.join(QStringLiteral(", "));
        Q_EMIT topologyChanged();
    }
    retireServers();
    updateReady();
    return changed;
}

void RedisRouter::retireServers()
{
    // A node no longer a primary keeps its connection for a while: commands sent there before the
    // map changed still get their answers (or time out).
    const milliseconds grace = m_options.client.commandTimeout * 2;
    QTimer::singleShot(grace, this, [this, generation = m_generation] {
        if (generation != m_generation)
            return;
        for (auto it = m_servers.begin(); it != m_servers.end();) {
            Server *server = it->second.get();
            const bool routed = std::find(m_slots.begin(), m_slots.end(), server) != m_slots.end();
            if (!server->primary && !routed) {
                qCDebug(lcRedis).noquote()
                    << "closing the connection to" << it->first << "- no longer a primary";
                it = m_servers.erase(it);
                Q_EMIT topologyChanged();
            } else {
                ++it;
            }
        }
    });
}

void RedisRouter::requestRefresh()
{
    if (m_mode != Mode::Cluster || !m_open)
        return;
    if (m_refreshing) {
        m_refreshAgain = true;
        return;
    }
    const auto since = steady_clock::now() - m_lastRefresh;
    if (since >= m_options.minRefreshGap) {
        refreshMap(m_generation);
    } else if (!m_refreshSoon.isActive()) {
        m_refreshSoon.start(ceil<milliseconds>(m_options.minRefreshGap - since));
    }
}

QCoro::Task<> RedisRouter::refreshMap(quint64 generation)
{
    QPointer<RedisRouter> self(this);
    m_refreshing = true;
    m_refreshAgain = false;
    m_lastRefresh = steady_clock::now();
    const QByteArrayList ask{QByteArrayLiteral("CLUSTER"), QByteArrayLiteral("SLOTS")};
    std::optional<ClusterMap> found;
    RedisUrl::Address from;
    QStringList problems;

    // The connected primaries first, then anyone else known (seeds, replicas) on a connection of its own.
    QList<RedisUrl::Address> connected;
    for (const auto &[address, server] : m_servers) {
        if (server->primary && server->client->isReady())
            connected.append(server->address);
    }
    for (const RedisUrl::Address &address : std::as_const(connected)) {
        const auto it = m_servers.find(address.toString());
        if (it == m_servers.end() || !it->second->client->isReady())
            continue;
        RedisPendingReply asking = it->second->client->command(ask);
        const RedisReply reply = co_await asking;
        if (!self || generation != m_generation)
            co_return;
        QString why;
        found = ClusterMap::fromClusterSlots(reply, address, &why);
        if (found && !found->isEmpty()) {
            from = address;
            break;
        }
        found.reset();
        problems.append(address.toString() + QStringLiteral(": ") + why);
    }
    if (!found) {
        QList<RedisUrl::Address> others = m_url.addresses();
        for (const RedisUrl::Address &address : m_map.allNodes()) {
            if (!others.contains(address))
                others.append(address);
        }
        const milliseconds connectTimeout = m_options.client.connectTimeout;
        for (const RedisUrl::Address &address : std::as_const(others)) {
            if (connected.contains(address))
                continue;
            auto client = std::make_unique<RedisClient>(m_url.withAddress(address), probeOptions());
            client->open();
            const bool ready = co_await client->waitForReady(connectTimeout);
            if (!self || generation != m_generation)
                co_return;
            if (!ready) {
                problems.append(address.toString() + QStringLiteral(": ") + client->lastError());
                continue;
            }
            RedisPendingReply asking = client->command(ask);
            const RedisReply reply = co_await asking;
            if (!self || generation != m_generation)
                co_return;
            QString why;
            found = ClusterMap::fromClusterSlots(reply, address, &why);
            if (found && !found->isEmpty()) {
                from = address;
                break;
            }
            found.reset();
            problems.append(address.toString() + QStringLiteral(": ") + why);
        }
    }
    m_refreshing = false;
    if (found) {
        ++m_stats.refreshes;
        applyMap(*found, from);
    } else {
        const QString message
            = QStringLiteral("cannot read the cluster's slot map: ") + problems.join(QStringLiteral("; "));
        qCWarning(lcRedis).noquote() << message;
        setError(message);
    }
    // While a primary is down or slots are unserved, look again soon: a replica is being promoted.
    bool degraded = !found || m_map.uncoveredSlots() > 0;
    for (const RedisUrl::Address &primary : m_map.primaries()) {
        const auto it = m_servers.find(primary.toString());
        degraded = degraded || it == m_servers.end() || !it->second->client->isReady();
    }
    if (m_refreshAgain || degraded)
        requestRefresh();
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

RedisPendingReply RedisRouter::routed(int slot, const QByteArrayList &args)
{
    if (!m_open)
        return finished(RedisReply::failure(RedisReply::Failure::Closed));
    Server *server = m_slots[size_t(slot)];
    if (!server) {
        requestRefresh();
        return finished(RedisReply::failure(
            RedisReply::Failure::NotConnected, QStringLiteral("no cluster node serves slot %1").arg(slot)));
    }
    RedisPendingReply first = server->client->command(args);
    QExplicitlySharedDataPointer<PendingCommand> outer(new PendingCommand);
    outer->issued = steady_clock::now();
    outer->deadline = outer->issued + m_options.client.commandTimeout;
    forward(outer, slot, args, std::move(first));
    return RedisPendingReply(std::move(outer));
}

QCoro::Task<> RedisRouter::forward(Pending outer, int slot, QByteArrayList args, RedisPendingReply first)
{
    RedisReply reply = co_await first;
    milliseconds backoff = 10ms;
    QString lastHost = m_url.host;
    // MOVED is bounded by maxRedirects. ASK, TRYAGAIN and CLUSTERDOWN come back while a migration
    // or an election lasts, and are bounded by the command's deadline (and a hard cap, for a
    // cluster that sends ASK in a circle).
    int moved = 0;
    for (int rounds = 0;; ++rounds) {
        if (!m_open)
            break; // closed: the reply stands (a failure with Closed, mostly)
        const Redirect kind = redirectOf(reply);
        if (kind == Redirect::None) {
            if (reply.isFailure() && reply.failureKind() != RedisReply::Failure::Closed)
                requestRefresh(); // a node lost: has its replica taken over?
            break;
        }
        if ((kind == Redirect::Moved && ++moved > m_options.maxRedirects) || rounds >= 64) {
            qCWarning(lcRedis).noquote() << "giving up on a command for slot" << slot << "after" << rounds
                                         << "redirections; the last was" << reply.errorText();
            reply = RedisReply::error(
                QByteArrayLiteral("ERR too many cluster redirections, the last: ") + reply.bytes());
            break;
        }
        if (kind == Redirect::Ask && steady_clock::now() >= outer->deadline)
            break; // out of time: the ASK stands
        std::optional<RedisPendingReply> next;
        if (kind == Redirect::Moved || kind == Redirect::Ask) {
            int redirectSlot = -1;
            RedisUrl::Address target;
            if (!parseRedirect(reply.bytes(), lastHost, redirectSlot, target))
                break;
            Server &to = serverAt(target);
            lastHost = target.host;
            if (kind == Redirect::Moved) {
                // The slot has moved for good: route it there now, and read the whole map soon.
                ++m_stats.moved;
                if (std::exchange(m_slots[size_t(redirectSlot)], &to) != &to)
                    Q_EMIT topologyChanged();
                requestRefresh();
            } else {
                // Migrating: this command alone goes to the importing node, the map stays.
                ++m_stats.ask;
                to.client->command({QByteArrayLiteral("ASKING")});
            }
            next.emplace(to.client->command(args));
        } else {
            if (kind == Redirect::ReadOnly)
                ++m_stats.readOnly; // a demoted primary: its replica took over
            else
                ++m_stats.tryAgain;
            if (kind != Redirect::TryAgain)
                requestRefresh();
            if (steady_clock::now() + backoff >= outer->deadline)
                break; // out of time: the error stands
            Sleeper::Wait wait = m_sleeper->sleep(backoff);
            const bool elapsed = co_await wait;
            if (!elapsed || !m_open)
                break;
            backoff = std::min(backoff * 2, 200ms);
            Server *owner = m_slots[size_t(slot)];
            if (!owner)
                break;
            next.emplace(owner->client->command(args));
        }
        reply = co_await *next;
    }
    outer->complete(std::move(reply));
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

QCoro::Task<RedisReply> RedisRouter::clusterEval(RedisScript script, QByteArrayList keys, QByteArrayList args)
{
    const int slot = keys.isEmpty() ? 0 : keySlot(keys.first());
    for (const QByteArray &key : std::as_const(keys)) {
        if (keySlot(key) != slot)
            co_return RedisReply::error(
                QByteArrayLiteral("CROSSSLOT a script's keys must share one slot (refused before sending)"));
    }
    QByteArrayList argv{QByteArrayLiteral("EVALSHA"), script.sha1(), QByteArray::number(keys.size())};
    argv += keys;
    argv += args;
    RedisPendingReply first = routed(slot, argv);
    RedisReply reply = co_await first;
    if (reply.isError() && reply.bytes().startsWith("NOSCRIPT")) {
        // This node does not have it (new, restarted, promoted): EVAL caches it there.
        argv[0] = QByteArrayLiteral("EVAL");
        argv[1] = script.source();
        RedisPendingReply retry = routed(slot, argv);
        reply = co_await retry;
    }
    co_return reply;
}

RedisClient *RedisRouter::clientFor(QByteArrayView key) const
{
    if (m_mode == Mode::Cluster) {
        Server *server = m_slots[size_t(keySlot(key))];
        return server ? server->client.get() : nullptr;
    }
    return m_mode == Mode::Unknown ? nullptr : m_single.get();
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

QList<RedisRouter::Node> RedisRouter::nodes() const
{
    QList<Node> out;
    if (m_mode == Mode::Cluster) {
        for (int i = 0; i < m_map.primaries().size(); ++i) {
            const RedisUrl::Address &address = m_map.primaries()[i];
            const auto it = m_servers.find(address.toString());
            Node node;
            node.address = address.toString();
            node.role = QStringLiteral("primary");
            node.slots = m_map.slotsOf(i);
            node.up = it != m_servers.end() && it->second->client->isReady();
            if (!node.up)
                node.problem = it == m_servers.end() || it->second->client->lastError().isEmpty()
                    ? QStringLiteral("not connected")
                    : it->second->client->lastError();
            out.append(node);
        }
    } else if (m_single && m_mode != Mode::Unknown) {
        Node node;
        node.address = nodeFor({});
        node.role = m_mode == Mode::Sentinel ? QStringLiteral("master") : QStringLiteral("standalone");
        node.up = m_single->isReady();
        if (!node.up)
            node.problem
                = m_single->lastError().isEmpty() ? QStringLiteral("not connected") : m_single->lastError();
        out.append(node);
    }
    return out;
}

QCoro::Task<RedisRouter::Health> RedisRouter::checkHealth()
{
    QPointer<RedisRouter> self(this);
    Health health;
    health.nodes = nodes();
    if (health.nodes.isEmpty()) {
        health.detail = lastError().isEmpty() ? QStringLiteral("not connected to Redis yet") : lastError();
        co_return health;
    }
    // One PING per server, all sent before the first answer is awaited.
    std::vector<RedisPendingReply> pings;
    for (const Node &node : std::as_const(health.nodes)) {
        if (m_mode == Mode::Cluster) {
            const auto it = m_servers.find(node.address);
            pings.push_back(it != m_servers.end()
                    ? it->second->client->ping()
                    : finished(RedisReply::failure(RedisReply::Failure::NotConnected)));
        } else {
            pings.push_back(m_single->ping());
        }
    }
    QStringList problems;
    for (size_t i = 0; i < pings.size(); ++i) {
        const RedisReply pong = co_await pings[i];
        Node &node = health.nodes[qsizetype(i)];
        node.up = pong.isOk();
        if (!node.up) {
            node.problem = pong.errorText();
            problems.append(node.slots.isEmpty()
                    ? QStringLiteral("%1 unreachable: %2").arg(node.address, node.problem)
                    : QStringLiteral("%1 (slots %2) unreachable: %3")
                          .arg(node.address, node.slots, node.problem));
        }
    }
    if (!self)
        co_return health;
    if (m_mode == Mode::Cluster && m_map.uncoveredSlots() > 0)
        problems.append(QStringLiteral("%1 slots are served by no node").arg(m_map.uncoveredSlots()));
    if (!m_misconfigured.isEmpty())
        problems.append(m_misconfigured);
    health.up = problems.isEmpty();
    health.detail = problems.join(QStringLiteral("; "));
    co_return health;
}

RedisClient::Stats RedisRouter::clientStats() const
{
    RedisClient::Stats total;
    auto add = [&total](const RedisClient &client) {
        const RedisClient::Stats s = client.stats();
        total.commands += s.commands;
        total.writeEvents += s.writeEvents;
        total.timeouts += s.timeouts;
        total.connects += s.connects;
        total.resets += s.resets;
    };
    if (m_single)
        add(*m_single);
    for (const auto &[address, server] : m_servers)
        add(*server->client);
    return total;
}

void RedisRouter::writeMetrics(MetricsWriter &out) const
{
    const RedisClient::Stats s = clientStats();
    Histogram roundTrips;
    if (m_single)
        roundTrips += m_single->roundTrips();
    for (const auto &[address, server] : m_servers)
        roundTrips += server->client->roundTrips();
    out.single("cachedash_redis_up", "gauge", "1 while every Redis connection the service needs is ready.",
        isReady() ? 1 : 0);
    out.single("cachedash_redis_commands_total", "counter", "Commands sent to Redis.", double(s.commands));
    out.single("cachedash_redis_writes_total", "counter",
        "Socket writes to Redis (pipelined commands share one).", double(s.writeEvents));
    out.single(
        "cachedash_redis_timeouts_total", "counter", "Redis commands that timed out.", double(s.timeouts));
    out.single("cachedash_redis_connects_total", "counter", "Redis connections that became ready.",
        double(s.connects));
    out.family("cachedash_redis_command_duration_seconds", "histogram", "Round-trip time of Redis commands.");
    out.histogram("cachedash_redis_command_duration_seconds", roundTrips);
    out.family("cachedash_redis_mode", "gauge", "1 for the shape of the Redis in use.");
    for (const auto &[mode, name] : {std::pair{Mode::Standalone, "standalone"},
             std::pair{Mode::Cluster, "cluster"}, std::pair{Mode::Sentinel, "sentinel"}})
        out.sample("cachedash_redis_mode", MetricsWriter::label("mode", name), m_mode == mode ? 1 : 0);
    int up = 0;
    const QList<Node> known = nodes();
    for (const Node &node : known)
        up += node.up ? 1 : 0;
    out.single("cachedash_redis_primaries", "gauge", "Primaries (or masters) serving the service's keys.",
        double(known.size()));
    out.single("cachedash_redis_primaries_up", "gauge", "Of those, the ones connected.", double(up));
    out.family("cachedash_redis_redirections_total", "counter",
        "Cluster redirections followed: moved, ask, tryagain (TRYAGAIN and CLUSTERDOWN retried), readonly.");
    out.sample("cachedash_redis_redirections_total", "kind=\"moved\"", double(m_stats.moved));
    out.sample("cachedash_redis_redirections_total", "kind=\"ask\"", double(m_stats.ask));
    out.sample("cachedash_redis_redirections_total", "kind=\"tryagain\"", double(m_stats.tryAgain));
    out.sample("cachedash_redis_redirections_total", "kind=\"readonly\"", double(m_stats.readOnly));
    out.single("cachedash_redis_unexpected_redirections_total", "counter",
        "MOVED or ASK from a server not used as a cluster node (a misconfiguration).",
        double(m_stats.unexpectedRedirects));
    out.single("cachedash_redis_topology_refreshes_total", "counter",
        "Cluster slot maps read, or masters asked of the sentinels.", double(m_stats.refreshes));
    out.single("cachedash_redis_failovers_total", "counter",
        "Primaries replaced by their replica, or new masters named by the sentinels.",
        double(m_stats.failovers));
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
