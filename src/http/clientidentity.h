// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "addressranges.h"

#include <QByteArray>
#include <QHostAddress>
#include <QString>

namespace Cachedash {

// Who a request comes from, for the rate limiter. The peer address, unless the peer is a trusted
// proxy: then X-Forwarded-For is read from the right, and the first hop that is not itself a
// trusted proxy is the client. Nothing is trusted unless configured.
class ClientIdentity
{
public:
    // Adds a trusted proxy range such as 10.0.0.0/8, 127.0.0.1 or ::1/128. Returns false (with a
    // reason) for anything else.
    bool addTrustedProxy(const QString &cidr, QString *error = nullptr);
    bool hasTrustedProxies() const { return !m_trusted.isEmpty(); }

    // The client's address as text: IPv4 in dotted form (IPv4-mapped IPv6 unwrapped), IPv6
    // compressed. Never anything but an address, so it is safe in a Redis key.
    QString clientFor(const QHostAddress &peer, const QByteArray &forwardedFor) const;

    static QHostAddress normalized(const QHostAddress &address);

private:
    bool isTrusted(const QHostAddress &address) const { return m_trusted.contains(address); }

    AddressRanges m_trusted;
};

} // namespace Cachedash
