// SPDX-License-Identifier: GPL-3.0-or-later
#include "redisconnection.h"

#include "hiredisconnection_p.h"
#include "redisurl.h"
#include "tlsconnection_p.h"

namespace Cachedash::detail {

RedisConnection *RedisConnection::open(
    const RedisUrl &url, const std::shared_ptr<const RedisTlsContext> &tls, Owner *owner, QString *error)
{
    // Only a rediss:// URL makes a QSslSocket, and so loads Qt's TLS backend.
    if (url.tls && url.transport == RedisUrl::Transport::Tcp)
        return TlsConnection::open(url, tls, owner, error);
    return HiredisConnection::open(url, owner, error);
}

} // namespace Cachedash::detail
