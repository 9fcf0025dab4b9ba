// SPDX-License-Identifier: GPL-3.0-or-later
#include "clientidentity.h"

namespace Cachedash {

namespace {

QHostAddress parseHop(QByteArray hop)
{
    hop = hop.trimmed();
    // Tolerate "[v6]" and "[v6]:port" as some proxies write them; a bare v4 "a.b.c.d:port" too.
    if (hop.startsWith('[')) {
        const qsizetype close = hop.indexOf(']');
        if (close < 0)
            return {};
        hop = hop.mid(1, close - 1);
    } else if (hop.count(':') == 1) {
        hop = hop.left(hop.indexOf(':'));
    }
    if (hop.isEmpty() || hop.size() > 64)
        return {};
    QHostAddress address;
    if (!address.setAddress(QString::fromLatin1(hop)))
        return {};
    if (address.protocol() == QAbstractSocket::IPv6Protocol && !address.scopeId().isEmpty())
        return {};
    return address;
}

} // namespace

QHostAddress ClientIdentity::normalized(const QHostAddress &address)
{
    bool isV4 = false;
    const quint32 v4 = address.toIPv4Address(&isV4);
    if (isV4)
        return QHostAddress(v4);
    return address;
}

bool ClientIdentity::addTrustedProxy(const QString &cidr, QString *error)
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
    m_trusted.append(subnet);
    return true;
}

bool ClientIdentity::isTrusted(const QHostAddress &address) const
{
    for (const auto &subnet : m_trusted) {
        if (address.isInSubnet(subnet))
            return true;
    }
    return false;
}

QString ClientIdentity::clientFor(const QHostAddress &peer, const QByteArray &forwardedFor) const
{
    QHostAddress client = normalized(peer);
    if (forwardedFor.isEmpty() || !isTrusted(client))
        return client.toString();
    const QByteArrayList hops = forwardedFor.split(',');
    for (auto it = hops.crbegin(); it != hops.crend(); ++it) {
        const QHostAddress hop = parseHop(*it);
        if (hop.isNull())
            break; // garbage from further left cannot be trusted: keep the last proxy we trust
        client = normalized(hop);
        if (!isTrusted(client))
            break;
    }
    return client.toString();
}

} // namespace Cachedash
