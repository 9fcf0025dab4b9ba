// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "ratelimit/ratelimiter.h"

#include <QByteArray>
#include <QList>
#include <QMetaType>
#include <QString>

namespace Cachedash {

// What Redis holds right now for the region and client the window watches, read in one round trip.
struct DashboardSnapshot
{
    bool redisAnswered = false;
    QString redisState; // up, connecting, down (for a cluster: "2 of 3 primaries up")
    QString redisMode; // "standalone", "cluster, 3 primaries", "sentinel, master cachedash at host:port"
    QString redisTransport; // "plain TCP", "unix socket", "TLS, verified by the system's CAs"
    QString reportNode; // host:port of the node that holds reportKey
    QString limiterNode; // and limiterKey
    QString region;
    QByteArray reportKey;
    qint64 reportPttlMs = -2; // -2: no such key
    qint64 freshTtlSeconds = 30; // the configured TTL, for the bar's scale
    QString limiterClient;
    QByteArray limiterKey; // the first of limiterKeys
    QByteArrayList limiterKeys; // the client's keys under the algorithm in force
    QList<qint64> limiterEntries; // admission times (ms, Redis clock), oldest first; at most ~100
    qint64 limiterCount = 0; // entries in the sorted set (ZCARD), which can exceed the list
    qint64 redisNowMs = 0;
    int limit = 5; // the first limit of the report route
    qint64 windowMs = 10000;
    // Every limit of the report route for limiterClient, as GET /ratelimit/{client} reads them
    // (read-only), with the algorithm counting them and Redis's clock at the read.
    RateAlgorithm algorithm = RateAlgorithm::SlidingLog;
    QList<RateLimitState> limits;
    qint64 limitsReadAtUs = 0;
    QString notice; // something the window should say once (a change made to a shared Redis)
    quint64 computations = 0;
    int computing = 0;
};

} // namespace Cachedash

Q_DECLARE_METATYPE(Cachedash::DashboardSnapshot)
