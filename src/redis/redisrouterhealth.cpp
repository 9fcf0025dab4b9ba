// SPDX-License-Identifier: GPL-3.0-or-later
// RedisRouter's account of itself: the servers it uses, whether they answer, and its metrics.
#include "redisrouter.h"
#include "redisrouter_p.h"

#include <QPointer>

namespace Cachedash {

using detail::finished;

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

} // namespace Cachedash
