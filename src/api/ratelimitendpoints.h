// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "apirequest.h"

#include <QString>

#include <qcoro/qcorotask.h>

#include <optional>

namespace Cachedash {

class AddressRanges;
class RateLimits;
struct RateLimitPeek;

// GET /ratelimit/{client}: a client's limits as they stand, on every limited route, read without
// spending anything; and DELETE /ratelimit/{client}: all of them forgotten, so that the client's
// next request starts afresh. The admin token, when set, guards both (see ReportsApi).
class RateLimitEndpoints
{
public:
    RateLimitEndpoints(RateLimits &limits, const AddressRanges &exempt, Responder &responder);

    // The client a path names: an IPv4 or IPv6 address (percent-encoded or not), written as the
    // limiter writes it (IPv4-mapped IPv6 unwrapped, IPv6 compressed); nothing, with *why, for
    // anything else.
    static std::optional<QString> parseClient(const QByteArray &segment, QString *why);

    QCoro::Task<> peek(ApiRequest request, QString client);
    QCoro::Task<> reset(ApiRequest request, QString client);

private:
    static void appendLimits(QByteArray &out, const char *route, const RateLimitPeek &peek, int algorithm);

    RateLimits &m_limits;
    const AddressRanges &m_exempt;
    Responder &m_responder;
};

} // namespace Cachedash
