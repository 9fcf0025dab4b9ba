// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "clustermap.h"
#include "redisclient.h"
#include "redispendingreply.h"
#include "redisreply.h"
#include "redisscript.h"
#include "redisurl.h"

#include "common/metrics.h"
#include "common/sleeper.h"

#include <QByteArrayList>
#include <QObject>
#include <QTimer>

#include <qcoro/qcorotask.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace Cachedash {

class SentinelResolver;

// The Redis the service talks to, whatever its shape: one server, a Redis Cluster, or the master
// a set of sentinels names. Commands name the key they route by:
//
//     RedisReply value = co_await redis.command(key, {"GET", key});
//
// - Standalone (redis:// of a server without cluster support, or unix://): one RedisClient; a
//   command goes straight to it, at no cost over using the client directly.
// - Cluster (redis:// naming any node; detected on connect with CLUSTER SLOTS): a RedisClient per
//   primary, the slot map from CLUSTER SLOTS. MOVED re-routes and refreshes the map (at most once
//   a second), ASK resends after ASKING without touching the map, TRYAGAIN and CLUSTERDOWN are
//   retried with backoff within the command's timeout, READONLY and a lost node refresh the map,
//   which is also refreshed every ten seconds. At most five MOVED per command; ASK, TRYAGAIN and
//   CLUSTERDOWN are followed until the command's timeout.
// - Sentinel (redis+sentinel://): the master the sentinels name, checked with ROLE, resolved
//   again on every reconnect, on READONLY and on +switch-master.
//
// Every command completes exactly once, as with RedisClient. Lives on one thread.
class RedisRouter : public QObject, public MetricsSource
{
    Q_OBJECT

public:
    enum class Mode { Unknown, Standalone, Cluster, Sentinel };
    Q_ENUM(Mode)

    struct Options
    {
        RedisClient::Options client;
        std::chrono::milliseconds refreshInterval{10000};
        std::chrono::milliseconds minRefreshGap{1000};
        int maxRedirects = 5;
        // Ask a redis:// server whether it is a cluster node. Off: always standalone (then a
        // MOVED is reported as the misconfiguration it is).
        bool detectCluster = true;
    };

    struct Stats
    {
        quint64 moved = 0;
        quint64 ask = 0;
        quint64 tryAgain = 0; // TRYAGAIN and CLUSTERDOWN retried
        quint64 readOnly = 0;
        quint64 refreshes = 0; // slot maps read (cluster) or masters named by a sentinel
        quint64 failovers = 0; // a primary replaced by its replica, or a new master named
        quint64 unexpectedRedirects = 0; // MOVED or ASK outside cluster mode
    };

    // One server the router talks to, for /healthz and the window.
    struct Node
    {
        QString address; // host:port, or the unix socket
        QString role; // "standalone", "primary" or "master"
        QString slots; // a primary's slots, "0-5460"
        bool up = false;
        QString problem; // when not up
    };

    struct Health
    {
        bool up = false; // every slot (or the one server) answers
        QString detail; // what is unreachable, when not up
        QList<Node> nodes;
    };

    explicit RedisRouter(RedisUrl url, QObject *parent = nullptr);
    RedisRouter(RedisUrl url, Options options, QObject *parent = nullptr);
    ~RedisRouter() override;

    const RedisUrl &url() const { return m_url; }
    // Takes effect at the next open(); only while closed.
    void setUrl(const RedisUrl &url);
    const Options &options() const { return m_options; }
    Mode mode() const { return m_mode; }
    bool isCluster() const { return m_mode == Mode::Cluster; }
    // Standalone or sentinel: connected. Cluster: the slot map is known and every primary is connected.
    bool isReady() const;
    QString lastError() const;
    // "standalone", "cluster, 3 primaries", "sentinel, master cachedash at 127.0.0.1:6380".
    QString describe() const;
    // How the bytes travel: "plain TCP", "unix socket", or for rediss:// how the server is checked
    // ("TLS, verified by the system's CAs").
    QString transport() const;
    // The node that holds `key` now, as host:port; empty when none is known.
    QString nodeFor(QByteArrayView key) const;
    QList<Node> nodes() const;
    Stats stats() const { return m_stats; }
    // Summed over every connection the router has now.
    RedisClient::Stats clientStats() const;

    void open();
    void close();
    // Resolves true once isReady(), false on timeout or close; with `untilRefused`, false as soon
    // as an attempt is refused() too.
    QCoro::Task<bool> waitForReady(std::chrono::milliseconds timeout, bool untilRefused = false);
    // The last attempt was refused, not just unanswered (see RedisClient::refused()): by the one
    // server, by the master or every sentinel, or by every seed of a cluster not found yet.
    bool refused() const;

    // Sends `args` to the node that holds `key` (which need not be among the arguments: TIME
    // "at" a key asks that key's node). Sent before this returns, so it pipelines with the
    // commands issued alongside it on the same node.
    RedisPendingReply command(QByteArrayView key, const QByteArrayList &args);
    // A command about no key: to the server, or to any connected primary.
    RedisPendingReply command(const QByteArrayList &args);
    RedisPendingReply get(const QByteArray &key) { return command(key, {QByteArrayLiteral("GET"), key}); }
    RedisPendingReply pttl(const QByteArray &key) { return command(key, {QByteArrayLiteral("PTTL"), key}); }
    RedisPendingReply del(const QByteArray &key) { return command(key, {QByteArrayLiteral("DEL"), key}); }
    RedisPendingReply set(const QByteArray &key, const QByteArray &value, std::chrono::milliseconds ttl,
        RedisClient::SetCondition condition = RedisClient::SetCondition::Always);
    RedisPendingReply ping() { return command({QByteArrayLiteral("PING")}); }
    // EVALSHA, falling back to EVAL on NOSCRIPT, routed by the first key. Every key must share one
    // slot (hash tags), or the answer is a CROSSSLOT error, from the router in cluster mode.
    QCoro::Task<RedisReply> evalScript(
        const RedisScript &script, const QByteArrayList &keys, const QByteArrayList &args);
    // Loads `script` on every server the router connects to, at once and after every connect.
    void registerScript(const RedisScript &script);

    // RedisClient's batching hooks, on the connection that holds `key` (see RedisClient). With
    // one server, the key is not looked at.
    quint64 writeGeneration(QByteArrayView key) const
    {
        const RedisClient *client = m_mode == Mode::Cluster ? clientFor(key) : single();
        return client ? client->writeGeneration() : 0;
    }
    void beforeNextWrite(QByteArrayView key, std::function<void()> gather);
    void flush(QByteArrayView key);

    // PINGs every server: which answer, and which slots are unreachable.
    QCoro::Task<Health> checkHealth();
    // cachedash_redis_*: the connections' figures summed, redirections, map refreshes, failovers.
    void writeMetrics(MetricsWriter &out) const override;

Q_SIGNALS:
    void readyChanged(bool ready);
    void modeChanged(Cachedash::RedisRouter::Mode mode);
    // Nodes came, went, went down or came up, or slots moved.
    void topologyChanged();
    void errorOccurred(const QString &message);
    // An attempt to connect, to find the master or to discover the cluster failed (see refused()).
    void attemptFailed();

private:
    struct Server;
    using Pending = QExplicitlySharedDataPointer<detail::PendingCommand>;

    RedisClient::Options clientOptions() const;
    RedisClient::Options probeOptions() const;
    Server &serverAt(const RedisUrl::Address &address);
    Server *serverFor(QByteArrayView key) const;
    RedisClient *clientFor(QByteArrayView key) const;
    // The one connection of standalone and sentinel mode, once known.
    RedisClient *single() const { return m_mode == Mode::Unknown ? nullptr : m_single.get(); }
    void wire(RedisClient &client);
    void onClientState(RedisClient *client);
    void onTopologyReply(RedisClient *client, const QByteArray &error);
    void loadScripts(RedisClient &client);
    void setMode(Mode mode);
    void setError(const QString &message);
    void updateReady();

    QCoro::Task<> discover(quint64 generation);
    void adoptStandalone(std::unique_ptr<RedisClient> client);
    bool applyMap(const ClusterMap &map, const RedisUrl::Address &from);
    void requestRefresh();
    QCoro::Task<> refreshMap(quint64 generation);
    void retireServers();

    QCoro::Task<> resolveMaster(quint64 generation, std::chrono::milliseconds delay);
    void pointAtMaster(const RedisUrl::Address &address);

    RedisPendingReply routed(int slot, const QByteArrayList &args);
    QCoro::Task<> forward(Pending outer, int slot, QByteArrayList args, RedisPendingReply first);
    QCoro::Task<RedisReply> clusterEval(RedisScript script, QByteArrayList keys, QByteArrayList args);
    static QCoro::Task<RedisReply> failed(RedisReply reply);

    RedisUrl m_url;
    Options m_options;
    Mode m_mode = Mode::Unknown;
    bool m_open = false;
    bool m_ready = false;
    quint64 m_generation = 0; // moves on open() and close(): coroutines of an older one stop
    QString m_lastError;
    QString m_misconfigured; // an unexpected redirection, until the next open()
    bool m_seedsRefused = false; // every seed refused the last discovery round
    QList<RedisScript> m_scripts;
    Stats m_stats;
    std::unique_ptr<Sleeper> m_sleeper; // backoffs; a new one per open(), the old one cancelled

    // Standalone and sentinel.
    std::unique_ptr<RedisClient> m_single;
    // Cluster: a server per address; m_slots[slot] serves the slot (null: nobody known).
    std::map<QString, std::unique_ptr<Server>> m_servers;
    std::vector<Server *> m_slots;
    ClusterMap m_map;
    bool m_refreshing = false;
    bool m_refreshAgain = false;
    std::chrono::steady_clock::time_point m_lastRefresh;
    QTimer m_refreshTimer; // periodic
    QTimer m_refreshSoon; // throttled refresh
    // Sentinel.
    std::unique_ptr<SentinelResolver> m_sentinel;
    RedisUrl::Address m_master;
    std::chrono::milliseconds m_masterBackoff{100};
    bool m_resolving = false;
};

} // namespace Cachedash
