// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "redisconnection.h"
#include "redispendingreply.h"
#include "redisreply.h"
#include "redisscript.h"
#include "redisurl.h"

#include "common/histogram.h"
#include "common/metrics.h"

#include <QByteArrayList>
#include <QObject>
#include <QTimer>

#include <qcoro/qcorotask.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

namespace Cachedash {

class RedisTlsContext;

// An asynchronous connection to one Redis server, driven by the Qt event loop and awaited with QCoro:
//
//     RedisReply reply = co_await client.get("report:emea");
//
// Plain TCP and unix sockets go through hiredis's async context; rediss:// through QSslSocket, with
// hiredis formatting the commands and parsing the replies: both behave the same.
//
// Every command completes exactly once: with the server's reply, or with a failure (not connected,
// connection lost, timeout, closed). Nothing waits forever. The client reconnects by itself with
// capped exponential backoff and repeats AUTH and SELECT on every connection.
//
// Thread affinity: a client lives on the thread that created it and may be used only from there,
// since a hiredis context is not thread-safe.
//
// Not for SUBSCRIBE or MONITOR, whose replies do not follow the one-reply-per-command rule.
class RedisClient : public QObject, public MetricsSource, private detail::RedisConnection::Owner
{
    Q_OBJECT

public:
    enum class State {
        Disconnected, // open() not called yet
        Connecting, // first connection (or attempts at it) under way
        Ready, // connected and authenticated; commands go out at once
        Reconnecting, // the connection was lost; retrying with backoff
        Closed, // close() was called
    };
    Q_ENUM(State)

    struct Options
    {
        std::chrono::milliseconds commandTimeout{1000};
        std::chrono::milliseconds connectTimeout{1000};
        std::chrono::milliseconds minReconnectDelay{100};
        // At most 1 s between attempts: back within about a second of Redis, however long it was away.
        std::chrono::milliseconds maxReconnectDelay{1000};
        // Reset the connection after this many timeouts in a row with no reply in between.
        int resetAfterTimeouts = 3;
        // Reconnect by itself after a lost connection. Without, the client stays Reconnecting
        // until reconnectTo() says where (the master a sentinel names may have moved); one that
        // never connected goes back to Disconnected at its first failure (waitForReady() ends).
        bool reconnect = true;
        // Ask ROLE in the handshake, and drop a connection to a server that is not a master.
        bool requireMaster = false;
        // Log connections and lost connections (off for short-lived connections that ask one thing).
        bool logConnections = true;
        // How to check the server of a rediss:// URL (required for one); unused otherwise.
        std::shared_ptr<const RedisTlsContext> tls;
    };

    struct Stats
    {
        quint64 commands = 0; // commands handed to the connection
        quint64 writeEvents = 0; // socket writes: pipelined commands share one
        quint64 timeouts = 0;
        quint64 connects = 0; // connections that became Ready
        quint64 resets = 0; // connections dropped by the client (timeouts, failed handshake)
    };

    enum class SetCondition { Always, IfAbsent /* NX */, IfPresent /* XX */ };

    explicit RedisClient(RedisUrl url, QObject *parent = nullptr);
    RedisClient(RedisUrl url, Options options, QObject *parent = nullptr);
    // Completes every pending command with Failure::Closed. Destroy the client only after the
    // coroutines that use it.
    ~RedisClient() override;

    const RedisUrl &url() const { return m_url; }
    // Takes effect at the next open(); only while Disconnected or Closed.
    void setUrl(const RedisUrl &url);
    const Options &options() const { return m_options; }
    void setCommandTimeout(std::chrono::milliseconds timeout);
    void setLogConnections(bool on) { m_options.logConnections = on; }
    void setReconnect(bool on) { m_options.reconnect = on; }
    State state() const { return m_state; }
    bool isReady() const { return m_state == State::Ready; }
    Stats stats() const { return m_stats; }
    // Moves on whenever the commands issued so far are handed to the socket: two commands issued
    // while it stays the same leave together, after both were issued.
    quint64 writeGeneration() const { return m_stats.writeEvents; }
    // Round-trip times of the commands that got a reply.
    const Histogram &roundTrips() const { return m_roundTrips; }
    // The last connection error, empty once connected.
    QString lastError() const { return m_lastError; }
    // The attempt that failed last was refused, not just unanswered: a password or database the server will
    // not take, a certificate that does not verify, a client certificate refused, a TLS port
    // reached without TLS. Retrying goes on, but will not help until something is changed.
    bool refused() const { return m_refused; }
    // cachedash_redis_*: whether the connection is up, commands, writes, timeouts, connects and
    // round-trip times.
    void writeMetrics(MetricsWriter &out) const override;

    // Starts connecting (and keeps reconnecting until close()).
    void open();
    // Connects to `url` instead, now: a connection up elsewhere is dropped (its commands fail
    // with ConnectionLost), one up to the same server is kept unless `force`.
    void reconnectTo(const RedisUrl &url, bool force = false);
    void close();
    // Resolves true once Ready, false on timeout or close.
    QCoro::Task<bool> waitForReady(std::chrono::milliseconds timeout);

    // Sends a command now (binary-safe: no argument is ever parsed as a format string).
    RedisPendingReply command(const QByteArrayList &args);

    RedisPendingReply ping();
    RedisPendingReply get(const QByteArray &key);
    // A whole number of seconds is sent as EX, anything else as PX; zero means no expiry.
    // SET's arguments, as set() sends them.
    static QByteArrayList setCommand(const QByteArray &key, const QByteArray &value,
        std::chrono::milliseconds ttl, SetCondition condition);
    RedisPendingReply set(const QByteArray &key, const QByteArray &value,
        std::chrono::milliseconds ttl = std::chrono::milliseconds::zero(),
        SetCondition condition = SetCondition::Always);
    RedisPendingReply del(const QByteArrayList &keys);
    RedisPendingReply pttl(const QByteArray &key);
    RedisPendingReply time();
    RedisPendingReply configGet(const QByteArray &parameter);
    RedisPendingReply configSet(const QByteArray &parameter, const QByteArray &value);
    RedisPendingReply scriptLoad(const QByteArray &source);
    RedisPendingReply evalsha(const QByteArray &sha1, const QByteArrayList &keys, const QByteArrayList &args);

    // EVALSHA, falling back to EVAL (which also caches the script) when the server answers NOSCRIPT,
    // as it does after a restart or SCRIPT FLUSH. The EVALSHA is sent before this returns, so it
    // pipelines with commands issued right after.
    QCoro::Task<RedisReply> evalScript(RedisScript script, QByteArrayList keys, QByteArrayList args);

    // Calls `gather` once, just before the commands issued so far leave: at the next write, or at
    // once when there is no connection to write to (its commands then fail at once too). A batch
    // that collects what one turn of the event loop asks issues its single command from there, and
    // shares the write, and the round trip, with the commands issued alongside it.
    void beforeNextWrite(std::function<void()> gather);
    // Writes the commands issued so far now (gathering first), instead of once the event loop has
    // finished its turn, so that Redis works on them while this thread goes on. The client also
    // does this by itself every few kilobytes.
    void flush();

Q_SIGNALS:
    void stateChanged(Cachedash::RedisClient::State state);
    // A connection attempt failed or a connection was lost; the message names the reason.
    void errorOccurred(const QString &message);
    // A connection attempt failed or a connection was lost, every time (errorOccurred() only
    // when the reason changes).
    void disconnected();
    // The server answered a command with MOVED, ASK, TRYAGAIN, CLUSTERDOWN or READONLY: it is a
    // cluster node or a replica, whatever the owner took it for. Emitted from inside the reply's
    // delivery: a receiver must not destroy the client there.
    void topologyReply(const QByteArray &error);

private:
    using Pending = QExplicitlySharedDataPointer<detail::PendingCommand>;

    RedisPendingReply issue(const QByteArrayList &args, detail::PendingCommand::Role role);
    // Runs (and forgets) the beforeNextWrite() callbacks.
    void gatherBeforeWrite();
    static constexpr size_t EarlyWriteBytes = 2048;
    void connectNow();
    // Drops the connection (its commands fail with ConnectionLost and `reason`) and retries.
    void resetConnection(const QString &reason);
    void dropConnection(const QString &reason);
    void scheduleReconnect(const QString &reason);
    void becomeReady();
    void setState(State state);
    void onTick();
    void ensureTicking();
    // Why the handshake failed, said so that the user knows what to change.
    QString handshakeProblem(const RedisReply &reply) const;

    // detail::RedisConnection::Owner
    void connectionUp(detail::RedisConnection *connection) override;
    void connectionDown(detail::RedisConnection *connection, const QString &why) override;
    void replyReceived(detail::RedisConnection *connection, detail::PendingCommand *command,
        const redisReply *reply) override;
    void aboutToWrite(detail::RedisConnection *connection) override;

    RedisUrl m_url;
    Options m_options;
    State m_state = State::Disconnected;
    detail::RedisConnection *m_connection = nullptr; // deletes itself
    bool m_everReady = false;
    bool m_refused = false;
    int m_handshakeLeft = 0;
    int m_consecutiveTimeouts = 0;
    std::chrono::milliseconds m_backoff{0};
    std::chrono::steady_clock::time_point m_connectDeadline;
    // Commands handed to the connection, oldest first; completed ones stay until their reply comes.
    std::deque<Pending> m_inflight;
    std::vector<std::function<void()>> m_beforeWrite;
    QTimer m_tick;
    QTimer m_reconnectTimer;
    QString m_lastError;
    Stats m_stats;
    Histogram m_roundTrips; // from sending a command to its reply, for commands that got one
};

} // namespace Cachedash
