// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

// What the router's source files share: a server it talks to, and a reply that is already there.
#include "redisrouter.h"

namespace Cachedash {

struct RedisRouter::Server
{
    RedisUrl::Address address;
    std::unique_ptr<RedisClient> client;
    bool primary = false;
};

namespace detail {
inline RedisPendingReply finished(RedisReply reply)
{
    QExplicitlySharedDataPointer<PendingCommand> command(new PendingCommand);
    command->complete(std::move(reply));
    return RedisPendingReply(std::move(command));
}
} // namespace detail

} // namespace Cachedash
