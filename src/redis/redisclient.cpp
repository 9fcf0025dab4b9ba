// SPDX-License-Identifier: GPL-3.0-or-later
#include "redisclient.h"

#include "redislogging.h"

#include <QVarLengthArray>

#include <qcoro/qcorosignal.h>

#include <algorithm>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace Cachedash {

using detail::PendingCommand;

namespace {

milliseconds tickInterval(milliseconds commandTimeout)
{
    return std::clamp(commandTimeout / 10, 1ms, 50ms);
}

bool isTopologyError(const QByteArray &error)
{
    return error.startsWith("MOVED ") || error.startsWith("ASK ") || error.startsWith("TRYAGAIN")
        || error.startsWith("CLUSTERDOWN") || error.startsWith("READONLY");
}

} // namespace

RedisClient::RedisClient(RedisUrl url, QObject *parent)
    : RedisClient(std::move(url), Options{}, parent)
{ }

RedisClient::RedisClient(RedisUrl url, Options options, QObject *parent)
    : QObject(parent)
    , m_url(std::move(url))
    , m_options(options)
    , m_backoff(options.minReconnectDelay)
{
    m_tick.setTimerType(Qt::PreciseTimer);
    m_tick.setInterval(tickInterval(m_options.commandTimeout));
    connect(&m_tick, &QTimer::timeout, this, &RedisClient::onTick);
    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, &RedisClient::connectNow);
}

RedisClient::~RedisClient()
{
    m_state = State::Closed;
    if (auto *connection = std::exchange(m_connection, nullptr))
        connection->close(RedisReply::failure(RedisReply::Failure::Closed));
    gatherBeforeWrite();
    const auto inflight = std::exchange(m_inflight, {});
    for (const Pending &command : inflight)
        command->complete(RedisReply::failure(RedisReply::Failure::Closed));
}

void RedisClient::setCommandTimeout(milliseconds timeout)
{
    m_options.commandTimeout = std::max(timeout, 1ms);
    m_tick.setInterval(tickInterval(m_options.commandTimeout));
}

void RedisClient::setUrl(const RedisUrl &url)
{
    if (m_state == State::Disconnected || m_state == State::Closed)
        m_url = url;
}

void RedisClient::open()
{
    if (m_state != State::Disconnected && m_state != State::Closed)
        return;
    m_everReady = false;
    m_backoff = m_options.minReconnectDelay;
    m_lastError.clear();
    setState(State::Connecting);
    connectNow();
}

void RedisClient::reconnectTo(const RedisUrl &url, bool force)
{
    if (m_state == State::Closed || m_state == State::Disconnected)
        return;
    const bool moved = force || !(url == m_url);
    m_url = url;
    if (m_connection && !moved)
        return;
    m_reconnectTimer.stop();
    if (m_connection) {
        ++m_stats.resets;
        dropConnection(QStringLiteral("Redis moved to %1").arg(url.toDisplayString()));
    }
    connectNow();
}

void RedisClient::close()
{
    if (m_state == State::Closed)
        return;
    m_reconnectTimer.stop();
    m_tick.stop();
    setState(State::Closed);
    if (auto *connection = std::exchange(m_connection, nullptr))
        connection->close(RedisReply::failure(RedisReply::Failure::Closed));
    const auto inflight = std::exchange(m_inflight, {});
    for (const Pending &command : inflight)
        command->complete(RedisReply::failure(RedisReply::Failure::Closed));
    gatherBeforeWrite();
}

QCoro::Task<bool> RedisClient::waitForReady(milliseconds timeout)
{
    const auto deadline = steady_clock::now() + timeout;
    while (m_state != State::Ready) {
        if (m_state == State::Closed || m_state == State::Disconnected)
            co_return false;
        const auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
        if (left <= 0ms)
            co_return false;
        co_await qCoro(this, &RedisClient::stateChanged, left);
    }
    co_return true;
}

void RedisClient::connectNow()
{
    if (m_state == State::Closed || m_connection)
        return;
    m_refused = false;
    QString error;
    m_connection = detail::RedisConnection::open(m_url, m_options.tls, this, &error);
    if (!m_connection) {
        scheduleReconnect(error);
        return;
    }
    m_consecutiveTimeouts = 0;
    m_connectDeadline = steady_clock::now() + m_options.connectTimeout;

    // The handshake goes first in the pipe; commands issued meanwhile queue up behind it.
    m_handshakeLeft = 0;
    if (m_url.hasCredentials()) {
        QByteArrayList auth{QByteArrayLiteral("AUTH")};
        if (!m_url.username.isEmpty())
            auth << m_url.username.toUtf8();
        auth << m_url.password.toUtf8();
        ++m_handshakeLeft;
        issue(auth, PendingCommand::Role::Handshake);
    }
    if (m_url.database != 0) {
        const QByteArrayList select{QByteArrayLiteral("SELECT"), QByteArray::number(m_url.database)};
        ++m_handshakeLeft;
        issue(select, PendingCommand::Role::Handshake);
    }
    if (m_options.requireMaster) {
        ++m_handshakeLeft;
        issue({QByteArrayLiteral("ROLE")}, PendingCommand::Role::Handshake);
    }
    if (m_handshakeLeft == 0) {
        // Ready only once the server has answered: one that wants a password says NOAUTH here,
        // and a TLS-only port closes the connection, instead of every later command failing.
        ++m_handshakeLeft;
        issue({QByteArrayLiteral("PING")}, PendingCommand::Role::Handshake);
    }
    ensureTicking();
}

void RedisClient::dropConnection(const QString &reason)
{
    // The commands in flight belong to the connection going away: they fail now.
    if (auto *connection = std::exchange(m_connection, nullptr))
        connection->close(RedisReply::failure(RedisReply::Failure::ConnectionLost, reason));
    const auto inflight = std::exchange(m_inflight, {});
    for (const Pending &command : inflight)
        command->complete(RedisReply::failure(RedisReply::Failure::ConnectionLost, reason));
}

void RedisClient::resetConnection(const QString &reason)
{
    ++m_stats.resets;
    dropConnection(reason);
    scheduleReconnect(reason);
}

void RedisClient::scheduleReconnect(const QString &reason)
{
    m_connection = nullptr;
    if (m_state == State::Closed)
        return;
    if (reason != m_lastError) {
        // Before the first connection the owner decides what to tell the user (see waitForReady()).
        if (m_everReady && m_options.logConnections)
            qCWarning(lcRedis).noquote()
                << "Redis at" << m_url.toDisplayString() << "unavailable:" << reason << "- retrying";
        else
            qCDebug(lcRedis).noquote()
                << "Redis at" << m_url.toDisplayString() << "not reachable yet:" << reason;
        m_lastError = reason;
        Q_EMIT errorOccurred(reason);
    }
    if (!m_options.reconnect && !m_everReady) {
        setState(State::Disconnected);
        gatherBeforeWrite();
        Q_EMIT disconnected();
        return;
    }
    setState(m_everReady ? State::Reconnecting : State::Connecting);
    if (m_options.reconnect) {
        m_reconnectTimer.start(m_backoff);
        m_backoff = std::min(m_backoff * 2, m_options.maxReconnectDelay);
    }
    // No write is coming: what waited for one fails now rather than at the next connection.
    gatherBeforeWrite();
    Q_EMIT disconnected();
}

void RedisClient::becomeReady()
{
    m_backoff = m_options.minReconnectDelay;
    m_everReady = true;
    m_refused = false;
    m_lastError.clear();
    ++m_stats.connects;
    if (m_options.logConnections)
        qCInfo(lcRedis).noquote() << "connected to" << m_url.toDisplayString();
    setState(State::Ready);
}

void RedisClient::setState(State state)
{
    if (m_state == state)
        return;
    m_state = state;
    Q_EMIT stateChanged(state);
}

void RedisClient::ensureTicking()
{
    if (!m_tick.isActive())
        m_tick.start();
}

void RedisClient::onTick()
{
    const auto now = steady_clock::now();
    if (m_connection && !m_connection->isUp() && now >= m_connectDeadline) {
        const QString why = m_connection->connectTimeoutReason(m_options.connectTimeout);
        m_refused = m_connection->refused();
        resetConnection(why);
        return;
    }

    // Deadlines grow along the queue, and completed commands (timed out, reply not in yet) form its head.
    QVarLengthArray<Pending, 16> expired;
    bool stuck = false;
    for (const Pending &command : m_inflight) {
        if (command->isDone()) {
            // A reply overdue by a whole further timeout: the connection is not coming back.
            stuck = stuck || now >= command->deadline + m_options.commandTimeout;
            continue;
        }
        if (command->deadline > now)
            break;
        expired.append(command);
    }
    if (!expired.isEmpty()) {
        m_stats.timeouts += quint64(expired.size());
        m_consecutiveTimeouts += int(expired.size());
        const QString message
            = QStringLiteral("Redis command timed out after %1 ms").arg(m_options.commandTimeout.count());
        for (const Pending &command : expired)
            command->complete(RedisReply::failure(RedisReply::Failure::Timeout, message));
    }
    if (m_connection && (stuck || m_consecutiveTimeouts >= m_options.resetAfterTimeouts)) {
        resetConnection(m_consecutiveTimeouts == 1
                ? QStringLiteral("a command timed out; resetting the connection")
                : QStringLiteral("%1 commands timed out; resetting the connection")
                      .arg(m_consecutiveTimeouts));
        return;
    }
    if (m_inflight.empty() && (!m_connection || m_connection->isUp()))
        m_tick.stop();
}

RedisPendingReply RedisClient::issue(const QByteArrayList &args, PendingCommand::Role role)
{
    Pending command(new PendingCommand);
    command->role = role;
    if (!m_connection) {
        const bool closed = m_state == State::Closed;
        command->complete(
            RedisReply::failure(closed ? RedisReply::Failure::Closed : RedisReply::Failure::NotConnected,
                closed ? QString() : m_lastError));
        return RedisPendingReply(std::move(command));
    }
    if (args.isEmpty()) {
        command->complete(RedisReply::error(QByteArrayLiteral("ERR empty command")));
        return RedisPendingReply(std::move(command));
    }
    QVarLengthArray<const char *, 16> argv;
    QVarLengthArray<size_t, 16> lengths;
    for (const QByteArray &arg : args) {
        argv.append(arg.constData());
        lengths.append(size_t(arg.size()));
    }
    if (!m_connection->send(int(argv.size()), argv.data(), lengths.constData(), command.data())) {
        command->complete(RedisReply::failure(
            RedisReply::Failure::ConnectionLost, QStringLiteral("the connection is closing")));
        return RedisPendingReply(std::move(command));
    }
    command->issued = steady_clock::now();
    command->deadline = command->issued + m_options.commandTimeout;
    m_inflight.push_back(command);
    ++m_stats.commands;
    ensureTicking();
    if (m_connection->pendingBytes() >= EarlyWriteBytes)
        flush();
    return RedisPendingReply(std::move(command));
}

void RedisClient::beforeNextWrite(std::function<void()> gather)
{
    if (!m_connection) {
        gather();
        return;
    }
    m_beforeWrite.push_back(std::move(gather));
    m_connection->writeSoon();
}

void RedisClient::gatherBeforeWrite()
{
    // A callback's command may trigger an early write, which gathers again: work on a copy.
    const auto callbacks = std::exchange(m_beforeWrite, {});
    for (const std::function<void()> &gather : callbacks)
        gather();
}

void RedisClient::aboutToWrite(detail::RedisConnection *connection)
{
    gatherBeforeWrite();
    if (connection == m_connection && connection->pendingBytes() > 0)
        ++m_stats.writeEvents;
}

void RedisClient::flush()
{
    // A connection writes what has gathered once the event loop has finished its turn. When the
    // server reads fifty requests in one turn, Redis would then idle while their commands pile
    // up, and the server would idle while Redis works through them all. Writing what has gathered
    // every EarlyWriteBytes, or every full batch, lets the two overlap.
    if (m_connection)
        m_connection->flush();
}

QString RedisClient::handshakeProblem(const RedisReply &reply) const
{
    const QByteArray &text = reply.bytes();
    const QString scheme = m_url.tls ? QStringLiteral("rediss") : QStringLiteral("redis");
    if (reply.isError() && text.startsWith("NOAUTH"))
        return QStringLiteral("the server requires a password (or an ACL user): give it in the URL, "
                              "%1://:PASSWORD@host:port or %1://USER:PASSWORD@host:port")
            .arg(scheme);
    if (reply.isError() && (text.startsWith("WRONGPASS") || text.contains("invalid password")))
        return QStringLiteral("the server refused the user or password in the URL: ") + reply.errorText();
    if (reply.isError() && text.contains("SELECT is not allowed in cluster mode"))
        return QStringLiteral("a Redis Cluster has database 0 only: leave the /DB out of the URL");
    if (reply.isFailure() && m_url.tls)
        return reply.errorText(); // the TLS connection says what went wrong
    if (reply.isFailure())
        return QStringLiteral("the server closed the connection before answering (%1): "
                              "it may require TLS: use rediss://")
            .arg(reply.errorText());
    return QStringLiteral("handshake failed: ") + reply.errorText();
}

void RedisClient::replyReceived(
    detail::RedisConnection *connection, detail::PendingCommand *raw, const redisReply *reply)
{
    if (!raw)
        return;
    const Pending command(raw);
    if (!m_inflight.empty() && m_inflight.front() == command) {
        m_inflight.pop_front();
    } else {
        const auto it = std::find(m_inflight.begin(), m_inflight.end(), command);
        if (it != m_inflight.end())
            m_inflight.erase(it);
    }
    if (reply) {
        m_consecutiveTimeouts = 0;
        m_roundTrips.observe(steady_clock::now() - command->issued);
    }
    if (command->isDone())
        return; // a late reply to a timed-out command: dropped

    RedisReply value;
    if (reply) {
        value = RedisReply::fromHiredis(reply);
    } else {
        const QString why = connection->errorString();
        value = RedisReply::failure(
            RedisReply::Failure::ConnectionLost, why.isEmpty() ? QStringLiteral("connection lost") : why);
    }

    // A handshake cut short by a lost connection is judged in connectionDown(), which follows.
    if (command->role == PendingCommand::Role::Handshake && connection == m_connection && reply) {
        const bool notMaster
            = value.isArray() && !value.elements().empty() && value.elements().front().bytes() != "master";
        if (notMaster) {
            resetConnection(
                QStringLiteral("%1 is a %2, not the master")
                    .arg(m_url.toDisplayString(), QString::fromUtf8(value.elements().front().bytes())));
        } else if (!value.isOk()) {
            // A wrong password or database will not fix itself, but the server's configuration
            // might: keep retrying with backoff, and say why.
            m_refused = true;
            resetConnection(handshakeProblem(value));
        } else if (--m_handshakeLeft == 0 && connection->isUp()) {
            becomeReady();
        }
    }
    if (value.isError() && command->role == PendingCommand::Role::User && isTopologyError(value.bytes()))
        Q_EMIT topologyReply(value.bytes());
    command->complete(std::move(value));
}

void RedisClient::connectionUp(detail::RedisConnection *connection)
{
    if (connection == m_connection && m_handshakeLeft == 0)
        becomeReady();
}

void RedisClient::connectionDown(detail::RedisConnection *connection, const QString &why)
{
    if (connection != m_connection)
        return; // a connection we dropped ourselves
    const bool cutShort = connection->isUp() && m_handshakeLeft > 0;
    m_refused = cutShort || connection->refused();
    m_connection = nullptr;
    scheduleReconnect(
        cutShort ? handshakeProblem(RedisReply::failure(RedisReply::Failure::ConnectionLost, why)) : why);
}

RedisPendingReply RedisClient::command(const QByteArrayList &args)
{
    return issue(args, PendingCommand::Role::User);
}

RedisPendingReply RedisClient::ping()
{
    return command({QByteArrayLiteral("PING")});
}

RedisPendingReply RedisClient::get(const QByteArray &key)
{
    return command({QByteArrayLiteral("GET"), key});
}

QByteArrayList RedisClient::setCommand(
    const QByteArray &key, const QByteArray &value, milliseconds ttl, SetCondition condition)
{
    QByteArrayList args{QByteArrayLiteral("SET"), key, value};
    if (ttl > 0ms) {
        if (ttl % 1s == 0ms)
            args << QByteArrayLiteral("EX")
                 << QByteArray::number(qint64(duration_cast<seconds>(ttl).count()));
        else
            args << QByteArrayLiteral("PX") << QByteArray::number(qint64(ttl.count()));
    }
    if (condition == SetCondition::IfAbsent)
        args << QByteArrayLiteral("NX");
    else if (condition == SetCondition::IfPresent)
        args << QByteArrayLiteral("XX");
    return args;
}

RedisPendingReply RedisClient::set(
    const QByteArray &key, const QByteArray &value, milliseconds ttl, SetCondition condition)
{
    return command(setCommand(key, value, ttl, condition));
}

RedisPendingReply RedisClient::del(const QByteArrayList &keys)
{
    return command(QByteArrayList{QByteArrayLiteral("DEL")} + keys);
}

RedisPendingReply RedisClient::pttl(const QByteArray &key)
{
    return command({QByteArrayLiteral("PTTL"), key});
}

RedisPendingReply RedisClient::time()
{
    return command({QByteArrayLiteral("TIME")});
}

RedisPendingReply RedisClient::configGet(const QByteArray &parameter)
{
    return command({QByteArrayLiteral("CONFIG"), QByteArrayLiteral("GET"), parameter});
}

RedisPendingReply RedisClient::configSet(const QByteArray &parameter, const QByteArray &value)
{
    return command({QByteArrayLiteral("CONFIG"), QByteArrayLiteral("SET"), parameter, value});
}

RedisPendingReply RedisClient::scriptLoad(const QByteArray &source)
{
    return command({QByteArrayLiteral("SCRIPT"), QByteArrayLiteral("LOAD"), source});
}

RedisPendingReply RedisClient::evalsha(
    const QByteArray &sha1, const QByteArrayList &keys, const QByteArrayList &args)
{
    QByteArrayList argv{QByteArrayLiteral("EVALSHA"), sha1, QByteArray::number(keys.size())};
    argv += keys;
    argv += args;
    return command(argv);
}

QCoro::Task<RedisReply> RedisClient::evalScript(RedisScript script, QByteArrayList keys, QByteArrayList args)
{
    QByteArrayList argv{QByteArrayLiteral("EVALSHA"), script.sha1(), QByteArray::number(keys.size())};
    argv += keys;
    argv += args;
    RedisPendingReply first = command(argv);
    RedisReply reply = co_await first;
    if (reply.isError() && reply.bytes().startsWith("NOSCRIPT")) {
        qCDebug(lcRedis) << "script" << script.sha1() << "not in the server's cache; sending its source";
        argv[0] = QByteArrayLiteral("EVAL");
        argv[1] = script.source();
        RedisPendingReply retry = command(argv);
        reply = co_await retry;
    }
    co_return reply;
}

void RedisClient::writeMetrics(MetricsWriter &out) const
{
    out.single("cachedash_redis_up", "gauge", "1 while the Redis connection is ready.", isReady() ? 1 : 0);
    out.single(
        "cachedash_redis_commands_total", "counter", "Commands sent to Redis.", double(m_stats.commands));
    out.single("cachedash_redis_writes_total", "counter",
        "Socket writes to Redis (pipelined commands share one).", double(m_stats.writeEvents));
    out.single("cachedash_redis_timeouts_total", "counter", "Redis commands that timed out.",
        double(m_stats.timeouts));
    out.single("cachedash_redis_connects_total", "counter", "Redis connections that became ready.",
        double(m_stats.connects));
    out.family("cachedash_redis_command_duration_seconds", "histogram", "Round-trip time of Redis commands.");
    out.histogram("cachedash_redis_command_duration_seconds", m_roundTrips);
}

} // namespace Cachedash
