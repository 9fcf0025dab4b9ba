// SPDX-License-Identifier: GPL-3.0-or-later
#include "sentinelresolver.h"

#include "redislogging.h"
#include "redissubscriber.h"

using namespace std::chrono;

namespace Cachedash {

namespace {
// How to reach one sentinel: its address, no credentials, no database.
RedisUrl sentinelUrl(const RedisUrl &url, const RedisUrl::Address &address)
{
    RedisUrl one = url.withAddress(address);
    one.username.clear();
    one.password.clear();
    one.database = 0;
    return one;
}
} // namespace

SentinelResolver::SentinelResolver(
    RedisUrl url, milliseconds timeout, std::shared_ptr<const RedisTlsContext> tls, QObject *parent)
    : QObject(parent)
    , m_url(std::move(url))
    , m_timeout(timeout)
    , m_tls(std::move(tls))
{ }

SentinelResolver::~SentinelResolver() = default;

QCoro::Task<std::optional<RedisUrl::Address>> SentinelResolver::resolve()
{
    QPointer<SentinelResolver> self(this);
    const QList<RedisUrl::Address> sentinels = m_url.addresses();
    const QByteArray name = m_url.masterName.toUtf8();
    const milliseconds timeout = m_timeout;
    QStringList problems;
    bool allRefused = !sentinels.isEmpty();
    for (const RedisUrl::Address &sentinel : sentinels) {
        RedisClient::Options options;
        options.commandTimeout = timeout;
        options.connectTimeout = timeout;
        options.logConnections = false;
        options.reconnect = false;
        options.tls = m_tls;
        auto client = std::make_unique<RedisClient>(sentinelUrl(m_url, sentinel), options);
        client->open();
        // Longer than the client's own connect timeout, which ends the attempt with its reason.
        const bool ready = co_await client->waitForReady(timeout * 2);
        if (!self)
            co_return std::nullopt;
        if (!ready) {
            allRefused = allRefused && client->refused();
            problems.append(
                QStringLiteral("sentinel %1: %2")
                    .arg(sentinel.toString(),
                        client->lastError().isEmpty() ? QStringLiteral("no answer") : client->lastError()));
            continue;
        }
        const QByteArrayList ask{
            QByteArrayLiteral("SENTINEL"), QByteArrayLiteral("get-master-addr-by-name"), name};
        RedisPendingReply pending = client->command(ask);
        const RedisReply reply = co_await pending;
        if (!self)
            co_return std::nullopt;
        const auto &e = reply.elements();
        if (reply.isArray() && e.size() == 2 && e[0].isString() && e[1].isString()) {
            bool ok = false;
            const uint port = e[1].bytes().toUInt(&ok);
            if (ok && port > 0 && port <= 65535) {
                m_lastError.clear();
                m_refused = false;
                co_return RedisUrl::Address{QString::fromUtf8(e[0].bytes()), quint16(port)};
            }
        }
        QString problem = reply.errorText().trimmed();
        if (reply.isNil())
            problem = QStringLiteral("knows no master named \"%1\"").arg(m_url.masterName);
        else if (reply.isError() && reply.bytes().contains("unknown command"))
            problem = QStringLiteral("not a sentinel (a Redis server? then use redis://%1)")
                          .arg(sentinel.toString());
        problems.append(QStringLiteral("sentinel %1: %2").arg(sentinel.toString(), problem));
        allRefused = false;
    }
    m_lastError = problems.join(QStringLiteral("; "));
    m_refused = allRefused;
    co_return std::nullopt;
}

void SentinelResolver::watch()
{
    if (!m_watchers.empty())
        return;
    for (const RedisUrl::Address &sentinel : m_url.addresses()) {
        auto watcher = std::make_unique<RedisSubscriber>(sentinelUrl(m_url, sentinel), m_tls);
        connect(watcher.get(), &RedisSubscriber::message, this,
            [this](
                const QByteArray &, const QByteArray &, const QByteArray &payload) { onMessage(payload); });
        watcher->psubscribe(QByteArrayLiteral("+switch-master"));
        watcher->open();
        m_watchers.push_back(std::move(watcher));
    }
}

void SentinelResolver::stop()
{
    m_watchers.clear();
}

void SentinelResolver::onMessage(const QByteArray &payload)
{
    // "<name> <old ip> <old port> <new ip> <new port>"
    const QByteArrayList words = payload.split(' ');
    if (words.size() != 5 || words[0] != m_url.masterName.toUtf8())
        return;
    bool ok = false;
    const uint port = words[4].toUInt(&ok);
    if (!ok || port == 0 || port > 65535)
        return;
    qCDebug(lcRedis).noquote() << "sentinel: +switch-master for" << m_url.masterName << "to"
                               << QStringLiteral("%1:%2").arg(QString::fromUtf8(words[3])).arg(port);
    Q_EMIT masterSwitched(RedisUrl::Address{QString::fromUtf8(words[3]), quint16(port)});
}

} // namespace Cachedash
