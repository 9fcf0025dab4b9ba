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
    return m_trusted.add(cidr, error);
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
