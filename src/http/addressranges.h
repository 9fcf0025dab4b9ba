// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QHostAddress>
#include <QList>
#include <QPair>
#include <QString>

namespace Cachedash {

// A set of addresses and CIDR ranges (10.0.0.0/8, 127.0.0.1, ::1/128): trusted proxies, clients
// exempt from rate limiting.
class AddressRanges
{
public:
    // Adds one address or range. False (with a reason) for anything else.
    bool add(const QString &cidr, QString *error = nullptr);
    bool isEmpty() const { return m_ranges.isEmpty(); }
    // IPv4-mapped IPv6 addresses match their IPv4 ranges.
    bool contains(const QHostAddress &address) const;

private:
    QList<QPair<QHostAddress, int>> m_ranges;
};

} // namespace Cachedash
