// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "apirequest.h"

#include <QString>

#include <qcoro/qcorotask.h>

#include <optional>

namespace Cachedash {

class AddressRanges;
class SlidingWindowLimiter;

// GET /ratelimit/{client}: a client's window as it stands, read without spending anything; and
// DELETE /ratelimit/{client}: the window forgotten, so that the client's next request starts
// afresh. The admin token, when set, guards both (see ReportsApi).
class RateLimitEndpoints
{
public:
    RateLimitEndpoints(SlidingWindowLimiter &limiter, const AddressRanges &exempt, Responder &responder);

    // The client a path names: an IPv4 or IPv6 address (percent-encoded or not), written as the
    // limiter writes it (IPv4-mapped IPv6 unwrapped, IPv6 compressed); nothing, with *why, for
    // anything else.
    static std::optional<QString> parseClient(const QByteArray &segment, QString *why);

    QCoro::Task<> peek(ApiRequest request, QString client);
    QCoro::Task<> reset(ApiRequest request, QString client);

private:
    SlidingWindowLimiter &m_limiter;
    const AddressRanges &m_exempt;
    Responder &m_responder;
};

} // namespace Cachedash
