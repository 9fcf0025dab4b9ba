// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "service/serviceoptions.h"
#include "testredisserver.h"

#include <chrono>

namespace Cachedash::Test {

// Options for a service under test: the given private Redis, a free port, a short computation
// (200 ms), 127.0.0.1 trusted as a proxy so that tests choose their client with X-Forwarded-For,
// and no access log. Header-only: tests that link the service use it.
inline ServiceOptions testServiceOptions(const TestRedisServer &redis)
{
    using namespace std::chrono_literals;
    ServiceOptions o;
    o.redisUrl = RedisUrl::parse(redis.url()).value();
    o.redisUrlGiven = true;
    o.port = 0;
    o.reportDelay = 200ms;
    o.trustedProxies = {QStringLiteral("127.0.0.1")};
    o.accessLog = false;
    return o;
}

} // namespace Cachedash::Test
