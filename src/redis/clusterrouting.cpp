// SPDX-License-Identifier: GPL-3.0-or-later
// RedisRouter in cluster mode: detecting a cluster, reading and applying its slot map, and
// following its redirections.
#include "redisrouter.h"
#include "redisrouter_p.h"

#include "keyslot.h"
#include "redislogging.h"

#include <QPointer>

#include <algorithm>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace Cachedash {

using detail::finished;
using detail::PendingCommand;

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

} // namespace

QCoro::Task<> RedisRouter::discover(quint64 generation)
{
    QPointer<RedisRouter> self(this);
    const QList<RedisUrl::Address> seeds = m_url.addresses();
    const milliseconds connectTimeout = m_options.client.connectTimeout;
    milliseconds backoff = m_options.client.minReconnectDelay;
    while (true) {
        QStringList problems;
        bool allRefused = !seeds.isEmpty();
        for (const RedisUrl::Address &seed : seeds) {
            auto client = std::make_unique<RedisClient>(m_url.withAddress(seed), probeOptions());
            client->open();
            // Longer than the client's own connect timeout, which ends the attempt with its reason.
            const bool ready = co_await client->waitForReady(connectTimeout * 2);
            if (!self || generation != m_generation)
                co_return;
            allRefused = allRefused && !ready && client->refused();
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
        m_seedsRefused = allRefused;
        Q_EMIT attemptFailed();
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
    QList<RedisUrl::Address> candidates;
    for (const auto &[address, server] : m_servers) {
        if (server->primary && server->client->isReady())
            candidates.append(server->address);
    }
    for (const QList<RedisUrl::Address> &more : {m_url.addresses(), m_map.allNodes()}) {
        for (const RedisUrl::Address &address : more) {
            if (!candidates.contains(address))
                candidates.append(address);
        }
    }
    const milliseconds connectTimeout = m_options.client.connectTimeout;
    for (const RedisUrl::Address &address : std::as_const(candidates)) {
        const auto it = m_servers.find(address.toString());
        RedisClient *client = it != m_servers.end() && it->second->primary && it->second->client->isReady()
            ? it->second->client.get()
            : nullptr;
        std::unique_ptr<RedisClient> probe;
        if (!client) {
            probe = std::make_unique<RedisClient>(m_url.withAddress(address), probeOptions());
            probe->open();
            const bool ready = co_await probe->waitForReady(connectTimeout);
            if (!self || generation != m_generation)
                co_return;
            if (!ready) {
                problems.append(address.toString() + QStringLiteral(": ") + probe->lastError());
                continue;
            }
            client = probe.get();
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

} // namespace Cachedash
