// SPDX-License-Identifier: GPL-3.0-or-later
#include "testcertificates.h"

#include <QFile>
#include <QProcess>

namespace Cachedash::Test {

TestCertificates::TestCertificates() = default;
TestCertificates::~TestCertificates() = default;

QString TestCertificates::path(const QString &name) const
{
    return m_dir ? m_dir->filePath(name) : QString();
}

bool TestCertificates::openssl(const QStringList &args)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.setWorkingDirectory(m_dir->path());
    process.start(QStringLiteral("openssl"), args);
    if (!process.waitForStarted(5000)) {
        m_error = QStringLiteral("openssl did not start (apt-get install openssl): ") + process.errorString();
        return false;
    }
    if (!process.waitForFinished(30000) || process.exitStatus() != QProcess::NormalExit
        || process.exitCode() != 0) {
        m_error = QStringLiteral("openssl %1 failed: %2")
                      .arg(args.first(), QString::fromLocal8Bit(process.readAll().right(500)));
        return false;
    }
    return true;
}

bool TestCertificates::issue(
    const QString &name, const QString &subject, const QString &altNames, const QString &usage, int days)
{
    // A request, then the CA's signature with the extensions a verifier checks.
    QFile extensions(path(name + QStringLiteral(".ext")));
    if (!extensions.open(QIODevice::WriteOnly)) {
        m_error = extensions.errorString();
        return false;
    }
    QByteArray text
        = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage="
        + usage.toUtf8() + '\n';
    if (!altNames.isEmpty())
        text += "subjectAltName=" + altNames.toUtf8() + '\n';
    extensions.write(text);
    extensions.close();
    const QString key = name + QStringLiteral(".key");
    const QString request = name + QStringLiteral(".csr");
    return openssl({QStringLiteral("req"), QStringLiteral("-new"), QStringLiteral("-newkey"),
               QStringLiteral("ec"), QStringLiteral("-pkeyopt"),
               QStringLiteral("ec_paramgen_curve:prime256v1"), QStringLiteral("-nodes"),
               QStringLiteral("-keyout"), key, QStringLiteral("-out"), request, QStringLiteral("-subj"),
               subject})
        && openssl({QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"), request,
            QStringLiteral("-CA"), QStringLiteral("ca.pem"), QStringLiteral("-CAkey"),
            QStringLiteral("ca.key"), QStringLiteral("-CAcreateserial"), QStringLiteral("-days"),
            // -1: valid until a day before it was made, which is expired
            QString::number(days), QStringLiteral("-extfile"), name + QStringLiteral(".ext"),
            QStringLiteral("-out"), name + QStringLiteral(".pem")});
}

bool TestCertificates::create()
{
    m_dir = std::make_unique<QTemporaryDir>();
    if (!m_dir->isValid()) {
        m_error = QStringLiteral("cannot create a temporary directory: ") + m_dir->errorString();
        return false;
    }
    return openssl({QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"),
               QStringLiteral("ec"), QStringLiteral("-pkeyopt"),
               QStringLiteral("ec_paramgen_curve:prime256v1"), QStringLiteral("-nodes"),
               QStringLiteral("-keyout"), QStringLiteral("ca.key"), QStringLiteral("-out"),
               QStringLiteral("ca.pem"), QStringLiteral("-days"), QStringLiteral("1"),
               QStringLiteral("-subj"), QStringLiteral("/CN=Cachedash test CA")})
        && issue(QStringLiteral("server"), QStringLiteral("/CN=localhost"),
            QStringLiteral("DNS:localhost,IP:127.0.0.1"), QStringLiteral("serverAuth"))
        && issue(QStringLiteral("client"), QStringLiteral("/CN=cachedash-client"), QString(),
            QStringLiteral("clientAuth"))
        && issue(QStringLiteral("other"), QStringLiteral("/CN=elsewhere.example"),
            QStringLiteral("DNS:elsewhere.example"), QStringLiteral("serverAuth"))
        && issue(QStringLiteral("expired"), QStringLiteral("/CN=localhost"),
            QStringLiteral("DNS:localhost,IP:127.0.0.1"), QStringLiteral("serverAuth"), -1)
        && openssl({QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"),
            QStringLiteral("ec"), QStringLiteral("-pkeyopt"), QStringLiteral("ec_paramgen_curve:prime256v1"),
            QStringLiteral("-nodes"), QStringLiteral("-keyout"), QStringLiteral("stranger.key"),
            QStringLiteral("-out"), QStringLiteral("stranger.pem"), QStringLiteral("-days"),
            QStringLiteral("1"), QStringLiteral("-subj"), QStringLiteral("/CN=stranger")});
}

QStringList TestCertificates::redisServerArgs(
    quint16 tlsPort, const QString &authClients, const QString &cert, const QString &key) const
{
    return {QStringLiteral("--tls-port"), QString::number(tlsPort), QStringLiteral("--tls-cert-file"),
        cert.isEmpty() ? serverCert() : cert, QStringLiteral("--tls-key-file"),
        key.isEmpty() ? serverKey() : key, QStringLiteral("--tls-ca-cert-file"), caCert(),
        QStringLiteral("--tls-auth-clients"), authClients};
}

} // namespace Cachedash::Test
