// SPDX-License-Identifier: GPL-3.0-or-later
#include "clustermap.h"

#include "keyslot.h"
#include "redisreply.h"

#include <QSet>

#include <algorithm>

namespace Cachedash {

namespace {

bool fail(QString *error, const QString &message)
{
    if (error)
        *error = message;
    return false;
}

// [ip, port, id, ...] of CLUSTER SLOTS.
bool readNode(
    const RedisReply &node, const RedisUrl::Address &answeredBy, RedisUrl::Address &out, QString *error)
{
    const auto &e = node.elements();
    if (!node.isArray() || e.size() < 2 || !e[0].isString() || !e[1].isInteger())
        return fail(error, QStringLiteral("a node entry is not [ip, port, ...]"));
    const qint64 port = e[1].toInteger();
    if (port < 1 || port > 65535)
        return fail(error, QStringLiteral("a node's port is out of range"));
    const QByteArray host = e[0].bytes();
    out.host = host.isEmpty() || host == "?" ? answeredBy.host : QString::fromUtf8(host);
    out.port = quint16(port);
    return true;
}

} // namespace

std::optional<ClusterMap> ClusterMap::fromClusterSlots(
    const RedisReply &reply, const RedisUrl::Address &answeredBy, QString *error)
{
    if (!reply.isArray()) {
        fail(error,
            reply.isOk() ? QStringLiteral("CLUSTER SLOTS did not answer an array") : reply.errorText());
        return std::nullopt;
    }
    ClusterMap map;
    map.m_owner.assign(size_t(ClusterSlots), qint16(-1));
    for (const RedisReply &entry : reply.elements()) {
        const auto &e = entry.elements();
        if (!entry.isArray() || e.size() < 3 || !e[0].isInteger() || !e[1].isInteger()) {
            fail(error, QStringLiteral("a CLUSTER SLOTS entry is not [first, last, primary, ...]"));
            return std::nullopt;
        }
        Range range;
        range.first = int(e[0].toInteger());
        range.last = int(e[1].toInteger());
        if (range.first < 0 || range.last >= ClusterSlots || range.first > range.last) {
            fail(error, QStringLiteral("a CLUSTER SLOTS range is out of bounds"));
            return std::nullopt;
        }
        RedisUrl::Address primary;
        if (!readNode(e[2], answeredBy, primary, error))
            return std::nullopt;
        range.primary = int(map.m_primaries.indexOf(primary));
        if (range.primary < 0) {
            range.primary = int(map.m_primaries.size());
            map.m_primaries.append(primary);
        }
        for (size_t i = 3; i < e.size(); ++i) {
            RedisUrl::Address replica;
            if (!readNode(e[i], answeredBy, replica, error))
                return std::nullopt;
            range.replicas.append(replica);
        }
        std::fill(
            map.m_owner.begin() + range.first, map.m_owner.begin() + range.last + 1, qint16(range.primary));
        map.m_ranges.append(range);
    }
    std::sort(map.m_ranges.begin(), map.m_ranges.end(),
        [](const Range &a, const Range &b) { return a.first < b.first; });
    return map;
}

int ClusterMap::uncoveredSlots() const
{
    if (m_owner.empty())
        return ClusterSlots;
    return int(std::count(m_owner.begin(), m_owner.end(), qint16(-1)));
}

QString ClusterMap::slotsOf(int primary) const
{
    QStringList runs;
    for (const Range &range : m_ranges) {
        if (range.primary != primary)
            continue;
        runs.append(range.first == range.last ? QString::number(range.first)
                                              : QStringLiteral("%1-%2").arg(range.first).arg(range.last));
    }
    return runs.join(u',');
}

QList<RedisUrl::Address> ClusterMap::allNodes() const
{
    QList<RedisUrl::Address> nodes = m_primaries;
    for (const Range &range : m_ranges) {
        for (const RedisUrl::Address &replica : range.replicas) {
            if (!nodes.contains(replica))
                nodes.append(replica);
        }
    }
    return nodes;
}

int ClusterMap::failoversSince(const ClusterMap &before) const
{
    // A failover: the slots a primary served are now served by a node that was its replica.
    QSet<QString> replaced;
    for (const Range &old : before.m_ranges) {
        const RedisUrl::Address &oldPrimary = before.m_primaries[old.primary];
        const int now = primaryOf(old.first);
        if (now < 0)
            continue;
        const RedisUrl::Address &newPrimary = m_primaries[now];
        if (newPrimary == oldPrimary)
            continue;
        // Its replica took over, or (Redis leaves a replica that has replicated nothing yet out
        // of CLUSTER SLOTS) the old primary now follows the node that took its slots, one that
        // was no primary before: a primary that gave its slots to another primary and then
        // follows it (replica migration) was resharded, not failed over.
        const bool demoted = !before.m_primaries.contains(newPrimary)
            && std::any_of(m_ranges.begin(), m_ranges.end(), [&](const Range &range) {
                   return range.primary == now && range.replicas.contains(oldPrimary);
               });
        if (old.replicas.contains(newPrimary) || demoted)
            replaced.insert(oldPrimary.toString());
    }
    return int(replaced.size());
}

} // namespace Cachedash
