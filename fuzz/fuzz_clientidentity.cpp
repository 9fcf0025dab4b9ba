// SPDX-License-Identifier: GPL-3.0-or-later
// The client identity behind the rate limiter: the peer address and X-Forwarded-For, with a fixed
// set of trusted proxies. The input is the peer's address on the first line and the header's value
// after it ("10.0.0.1\n203.0.113.7, 10.0.0.2"); without a line break, all of it is the header and
// the peer is the trusted proxy 10.0.0.1.
#include "fuzzcheck.h"
#include "http/clientidentity.h"

#include <QByteArray>
#include <QHostAddress>
#include <QList>
#include <QPair>
#include <QString>

#include <cstddef>
#include <cstdint>

using namespace Cachedash;

namespace {

const char *const TrustedProxies[] = {"10.0.0.0/8", "127.0.0.1", "::1", "192.168.0.0/16", "fd00::/8"};

struct Fixture
{
    ClientIdentity identity;
    ClientIdentity trustsNobody;
    QList<QPair<QHostAddress, int>> trusted;

    Fixture()
    {
        for (const char *cidr : TrustedProxies) {
            const QString text = QString::fromLatin1(cidr);
            FUZZ_CHECK(identity.addTrustedProxy(text));
            trusted.append(text.contains(u'/')
                    ? QHostAddress::parseSubnet(text)
                    : qMakePair(QHostAddress(text), text.contains(u':') ? 128 : 32));
        }
    }

    bool isTrusted(const QHostAddress &address) const
    {
        const QHostAddress a = ClientIdentity::normalized(address);
        for (const auto &subnet : trusted) {
            if (a.isInSubnet(subnet))
                return true;
        }
        return false;
    }
};

// Only what an address is written with: hex digits, '.' and ':' (no scope, no brackets, no port).
bool isPlainAddress(const QString &text)
{
    for (QChar c : text) {
        const char16_t u = c.unicode();
        if (!((u >= u'0' && u <= u'9') || (u >= u'a' && u <= u'f') || (u >= u'A' && u <= u'F') || u == u'.'
                || u == u':'))
            return false;
    }
    return !text.isEmpty();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const Fixture fixture;
    const QByteArray input(reinterpret_cast<const char *>(data), qsizetype(size));
    const qsizetype newline = input.indexOf('\n');
    QHostAddress peer(QStringLiteral("10.0.0.1"));
    QByteArray header = input;
    if (newline >= 0) {
        if (!peer.setAddress(QString::fromLatin1(input.left(newline))))
            return 0; // a connection always has a peer address
        header = input.mid(newline + 1);
    }

    const QString peerText = ClientIdentity::normalized(peer).toString();
    const QString client = fixture.identity.clientFor(peer, header);

    // Always a valid address, written the way QHostAddress writes it.
    QHostAddress parsed;
    FUZZ_CHECK(parsed.setAddress(client));
    FUZZ_CHECK(parsed.toString() == client);
    FUZZ_CHECK(ClientIdentity::normalized(parsed) == parsed); // IPv4 never as ::ffff:a.b.c.d
    FUZZ_CHECK(fixture.identity.clientFor(peer, header) == client);

    // Without the header, or without trusted proxies, the peer.
    FUZZ_CHECK(fixture.identity.clientFor(peer, QByteArray()) == peerText);
    FUZZ_CHECK(fixture.trustsNobody.clientFor(peer, header) == peerText);
    // A peer that is not a trusted proxy cannot change its identity with the header.
    if (!fixture.isTrusted(peer))
        FUZZ_CHECK(client == peerText);
    // What comes from the header is a plain address, safe in a Redis key.
    if (client != peerText)
        FUZZ_CHECK(isPlainAddress(client));
    // Hops further left than the client, garbage included, never matter.
    FUZZ_CHECK(fixture.identity.clientFor(peer, QByteArrayLiteral("not-an-address,") + header) == client);
    FUZZ_CHECK(fixture.identity.clientFor(peer, QByteArrayLiteral("198.51.100.9,") + header) == client
        || fixture.isTrusted(parsed));
    return 0;
}
