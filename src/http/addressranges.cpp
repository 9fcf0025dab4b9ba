// SPDX-License-Identifier: GPL-3.0-or-later
#include "addressranges.h"

namespace Cachedash {

bool AddressRanges::add(const QString &cidr, QString *error)
{
    const QString text = cidr.trimmed();
    QPair<QHostAddress, int> subnet;
    if (text.contains(u'/')) {
        subnet = QHostAddress::parseSubnet(text);
    } else {
        const QHostAddress single(text);
        if (!single.isNull())
            subnet = {single, single.protocol() == QAbstractSocket::IPv6Protocol ? 128 : 32};
    }
    if (subnet.first.isNull() || subnet.second < 0) {
        if (error)
            *error = QStringLiteral("\"%1\" is not an address or CIDR range (e.g. 10.0.0.0/8)")
                         .arg(text.left(64));
        return false;
    }
    m_ranges.append(subnet);
    return true;
}

bool AddressRanges::contains(const QHostAddress &address) const
{
    bool isV4 = false;
    const quint32 v4 = address.toIPv4Address(&isV4);
    const QHostAddress plain = isV4 ? QHostAddress(v4) : address;
    for (const auto &subnet : m_ranges) {
        if (plain.isInSubnet(subnet))
            return true;
    }
    return false;
}

} // namespace Cachedash
