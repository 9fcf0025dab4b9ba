// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "redisclient.h"
#include "redisurl.h"

#include <QObject>
#include <QPointer>

#include <qcoro/qcorotask.h>

#include <memory>
#include <optional>
#include <vector>

namespace Cachedash {

class RedisSubscriber;
class RedisTlsContext;

// Finds the master a set of sentinels names (SENTINEL get-master-addr-by-name), asking them in
// turn, and listens on every sentinel for +switch-master about it. The sentinels are asked
// without credentials: those in the URL are the master's.
class SentinelResolver : public QObject
{
    Q_OBJECT

public:
    // `url` is a redis+sentinel:// URL.
    // `tls` is required for rediss+sentinel://: the sentinels speak TLS too.
    SentinelResolver(RedisUrl url, std::chrono::milliseconds timeout,
        std::shared_ptr<const RedisTlsContext> tls = {}, QObject *parent = nullptr);
    ~SentinelResolver() override;

    // The master's address, from the first sentinel that names it; nothing (and lastError())
    // when none does.
    QCoro::Task<std::optional<RedisUrl::Address>> resolve();
    QString lastError() const { return m_lastError; }
    // The last resolve() found no master because every sentinel refused us (TLS, ACLs).
    bool refused() const { return m_refused; }
    // Subscribes to +switch-master on every sentinel.
    void watch();
    void stop();

Q_SIGNALS:
    // A sentinel announced a new master for our name.
    void masterSwitched(const Cachedash::RedisUrl::Address &address);

private:
    void onMessage(const QByteArray &payload);

    RedisUrl m_url;
    std::chrono::milliseconds m_timeout;
    std::shared_ptr<const RedisTlsContext> m_tls;
    QString m_lastError;
    bool m_refused = false;
    std::vector<std::unique_ptr<RedisSubscriber>> m_watchers;
};

} // namespace Cachedash
