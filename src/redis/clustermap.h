// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "redisurl.h"

#include <QList>
#include <QString>

#include <optional>
#include <vector>

namespace Cachedash {

class RedisReply;

// Which primary serves each of Redis Cluster's hash slots, and which replicas follow it, as one
// node's CLUSTER SLOTS answered. A value: the router keeps the last one and compares the next.
class ClusterMap
{
public:
    // A run of slots and the nodes that serve it.
    struct Range
    {
        int first = 0;
        int last = 0;
        int primary = -1; // index into primaries()
        QList<RedisUrl::Address> replicas;
    };

    ClusterMap() = default;

    // Reads a CLUSTER SLOTS reply. A node that announces no address ("" or "?") is the one that
    // answered, `answeredBy`. Nothing (and *error) when the reply is not a slot map.
    static std::optional<ClusterMap> fromClusterSlots(
        const RedisReply &reply, const RedisUrl::Address &answeredBy, QString *error = nullptr);

    bool isEmpty() const { return m_ranges.isEmpty(); }
    const QList<RedisUrl::Address> &primaries() const { return m_primaries; }
    const QList<Range> &ranges() const { return m_ranges; }
    // The index into primaries() of the node serving `slot`; -1 when no node does.
    int primaryOf(int slot) const
    {
        return slot >= 0 && size_t(slot) < m_owner.size() ? m_owner[size_t(slot)] : -1;
    }
    // Slots no primary serves.
    int uncoveredSlots() const;
    // The slots `primary` serves, as "0-5460" or "0-100,200-300".
    QString slotsOf(int primary) const;
    // Every node named: primaries, then replicas.
    QList<RedisUrl::Address> allNodes() const;
    // How many of `before`'s primaries were replaced here by one of their own replicas, or by a
    // node they now follow: failovers. (A primary that died before its replica replicated
    // anything, and is gone from this map, is not seen.)
    int failoversSince(const ClusterMap &before) const;

    friend bool operator==(const ClusterMap &a, const ClusterMap &b)
    {
        return a.m_primaries == b.m_primaries && a.m_owner == b.m_owner;
    }

private:
    QList<RedisUrl::Address> m_primaries;
    QList<Range> m_ranges;
    std::vector<qint16> m_owner; // per slot, index into m_primaries or -1
};

} // namespace Cachedash
