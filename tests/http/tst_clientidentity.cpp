// SPDX-License-Identifier: GPL-3.0-or-later
#include "http/clientidentity.h"

#include <QTest>

using Cachedash::ClientIdentity;

class tst_ClientIdentity : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void client_data();
    void client();
    void badRanges();
};

void tst_ClientIdentity::client_data()
{
    QTest::addColumn<QStringList>("trusted");
    QTest::addColumn<QString>("peer");
    QTest::addColumn<QByteArray>("forwardedFor");
    QTest::addColumn<QString>("expected");

    const QStringList none;
    const QStringList proxies{QStringLiteral("10.0.0.0/8"), QStringLiteral("127.0.0.1")};
    QTest::newRow("no header") << none << "192.0.2.7" << QByteArray() << "192.0.2.7";
    QTest::newRow("untrusted peer: header ignored")
        << none << "192.0.2.7" << QByteArray("198.51.100.1") << "192.0.2.7";
    QTest::newRow("mapped v4 unwrapped") << none << "::ffff:192.0.2.7" << QByteArray() << "192.0.2.7";
    QTest::newRow("v6 peer") << none << "2001:db8::1" << QByteArray() << "2001:db8::1";
    QTest::newRow("trusted peer, one hop")
        << proxies << "127.0.0.1" << QByteArray("198.51.100.1") << "198.51.100.1";
    QTest::newRow("right-most untrusted wins")
        << proxies << "10.1.1.1" << QByteArray("203.0.113.9, 198.51.100.1, 10.2.2.2") << "198.51.100.1";
    QTest::newRow("spoofed left part ignored")
        << proxies << "10.1.1.1" << QByteArray("1.1.1.1,198.51.100.1") << "198.51.100.1";
    QTest::newRow("all trusted: left-most")
        << proxies << "10.1.1.1" << QByteArray("10.3.3.3, 10.2.2.2") << "10.3.3.3";
    QTest::newRow("garbage hop: last trusted")
        << proxies << "10.1.1.1" << QByteArray("198.51.100.1, nonsense") << "10.1.1.1";
    QTest::newRow("injection attempt") << proxies << "10.1.1.1" << QByteArray("x}:*\r\nDEL a") << "10.1.1.1";
    QTest::newRow("v6 with brackets and port")
        << proxies << "127.0.0.1" << QByteArray("[2001:db8::5]:443") << "2001:db8::5";
    QTest::newRow("v4 with port") << proxies << "127.0.0.1" << QByteArray("198.51.100.1:5000")
                                  << "198.51.100.1";
}

void tst_ClientIdentity::client()
{
    QFETCH(QStringList, trusted);
    QFETCH(QString, peer);
    QFETCH(QByteArray, forwardedFor);
    QFETCH(QString, expected);
    ClientIdentity identity;
    for (const QString &range : trusted)
        QVERIFY(identity.addTrustedProxy(range));
    QCOMPARE(identity.clientFor(QHostAddress(peer), forwardedFor), expected);
}

void tst_ClientIdentity::badRanges()
{
    ClientIdentity identity;
    QString error;
    QVERIFY(!identity.addTrustedProxy(QStringLiteral("10.0.0.0/33"), &error));
    QVERIFY(error.contains(QStringLiteral("CIDR")));
    QVERIFY(!identity.addTrustedProxy(QStringLiteral("proxy.example"), &error));
    QVERIFY(!identity.hasTrustedProxies());
    QVERIFY(identity.addTrustedProxy(QStringLiteral("::1/128")));
}

QTEST_GUILESS_MAIN(tst_ClientIdentity)
#include "tst_clientidentity.moc"
