// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QString>
#include <QStringList>
#include <QTemporaryDir>

#include <memory>

namespace Cachedash::Test {

// Throw-away certificates for TLS tests (EC P-256 keys: quick to make), made with openssl in a
// temporary directory that goes with the object: a CA, a server certificate for localhost and 127.0.0.1, a
// client certificate, and a certificate for another name, signed by the CA and valid for a day; an expired
// server certificate; and a self-signed client certificate no server trusts.
class TestCertificates
{
public:
    TestCertificates();
    ~TestCertificates();
    TestCertificates(const TestCertificates &) = delete;
    TestCertificates &operator=(const TestCertificates &) = delete;

    // False with errorString() when openssl is missing or fails.
    bool create();
    QString errorString() const { return m_error; }

    QString caCert() const { return path(QStringLiteral("ca.pem")); }
    QString serverCert() const { return path(QStringLiteral("server.pem")); }
    QString serverKey() const { return path(QStringLiteral("server.key")); }
    QString clientCert() const { return path(QStringLiteral("client.pem")); }
    QString clientKey() const { return path(QStringLiteral("client.key")); }
    // For "elsewhere.example": verifies against the CA, but not as localhost.
    QString otherCert() const { return path(QStringLiteral("other.pem")); }
    QString otherKey() const { return path(QStringLiteral("other.key")); }
    // For localhost, signed by the CA, expired yesterday.
    QString expiredCert() const { return path(QStringLiteral("expired.pem")); }
    QString expiredKey() const { return path(QStringLiteral("expired.key")); }
    // A client certificate that signs itself: a server that checks clients refuses it.
    QString strangerCert() const { return path(QStringLiteral("stranger.pem")); }
    QString strangerKey() const { return path(QStringLiteral("stranger.key")); }

    // redis-server arguments for a TLS port serving `cert`/`key` (the server certificate by
    // default), trusting the CA for client certificates: `authClients` is "yes", "no" or "optional".
    QStringList redisServerArgs(quint16 tlsPort, const QString &authClients = QStringLiteral("no"),
        const QString &cert = {}, const QString &key = {}) const;

private:
    QString path(const QString &name) const;
    bool openssl(const QStringList &args);
    bool issue(const QString &name, const QString &subject, const QString &altNames, const QString &usage,
        int days = 1);

    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_error;
};

} // namespace Cachedash::Test
