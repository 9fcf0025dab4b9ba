// SPDX-License-Identifier: GPL-3.0-or-later
#include "redistls_p.h"

#include <QFile>
#include <QFileInfo>
#include <QSslCertificate>
#include <QSslKey>
#include <QSslSocket>

#include <optional>

namespace Cachedash {

namespace {

std::optional<QByteArray> readFile(const QString &path, const char *option, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = QStringLiteral("%1 %2: %3").arg(QLatin1String(option), path, file.errorString());
        return std::nullopt;
    }
    return file.readAll();
}

// A PEM private key of any kind OpenSSL knows (RSA, EC, DSA), not encrypted.
QSslKey readKey(const QByteArray &pem)
{
    for (QSsl::KeyAlgorithm algorithm : {QSsl::Rsa, QSsl::Ec, QSsl::Dsa}) {
        QSslKey key(pem, algorithm, QSsl::Pem, QSsl::PrivateKey);
        if (!key.isNull())
            return key;
    }
    return {};
}

QString namesOf(const QSslCertificate &certificate)
{
    QStringList names;
    const auto altNames = certificate.subjectAlternativeNames();
    for (auto it = altNames.cbegin(); it != altNames.cend(); ++it)
        names.append(it.value());
    if (names.isEmpty())
        names = certificate.subjectInfo(QSslCertificate::CommonName);
    names.removeDuplicates();
    return names.isEmpty() ? QStringLiteral("no name") : names.join(QStringLiteral(", "));
}

} // namespace

RedisTlsContext::RedisTlsContext(std::unique_ptr<Private> d)
    : m_d(std::move(d))
{ }

RedisTlsContext::~RedisTlsContext() = default;

const RedisTlsOptions &RedisTlsContext::options() const
{
    return m_d->options;
}

std::shared_ptr<const RedisTlsContext> RedisTlsContext::load(const RedisTlsOptions &options, QString *error)
{
    QString ignored;
    if (!error)
        error = &ignored;
    if (!QSslSocket::supportsSsl()) {
        *error = QStringLiteral("this Qt has no working TLS backend (%1): install libssl3")
                     .arg(QSslSocket::activeBackend().isEmpty() ? QStringLiteral("none loaded")
                                                                : QSslSocket::activeBackend());
        return nullptr;
    }
    auto d = std::make_unique<Private>();
    d->options = options;
    QSslConfiguration &config = d->configuration;
    config = QSslConfiguration::defaultConfiguration();
    config.setProtocol(QSsl::TlsV1_2OrLater);
    config.setPeerVerifyMode(options.insecureSkipVerify ? QSslSocket::VerifyNone : QSslSocket::VerifyPeer);

    if (!options.caCertFile.isEmpty()) {
        const auto pem = readFile(options.caCertFile, "--redis-ca-cert", error);
        if (!pem)
            return nullptr;
        const QList<QSslCertificate> cas = QSslCertificate::fromData(*pem, QSsl::Pem);
        if (cas.isEmpty()) {
            *error = QStringLiteral("--redis-ca-cert %1: no PEM certificate in it").arg(options.caCertFile);
            return nullptr;
        }
        // Replaces the system's CAs: only these are trusted.
        config.setCaCertificates(cas);
    }

    if (options.clientCertFile.isEmpty() != options.clientKeyFile.isEmpty()) {
        *error = QStringLiteral("--redis-client-cert and --redis-client-key go together: give both");
        return nullptr;
    }
    if (!options.clientCertFile.isEmpty()) {
        const auto certPem = readFile(options.clientCertFile, "--redis-client-cert", error);
        if (!certPem)
            return nullptr;
        const QList<QSslCertificate> chain = QSslCertificate::fromData(*certPem, QSsl::Pem);
        if (chain.isEmpty()) {
            *error = QStringLiteral("--redis-client-cert %1: no PEM certificate in it")
                         .arg(options.clientCertFile);
            return nullptr;
        }
        const auto keyPem = readFile(options.clientKeyFile, "--redis-client-key", error);
        if (!keyPem)
            return nullptr;
        const QSslKey key = readKey(*keyPem);
        if (key.isNull()) {
            *error = QStringLiteral("--redis-client-key %1: no PEM private key in it (an encrypted key "
                                    "is not supported: openssl pkey -in KEY -out PLAIN_KEY)")
                         .arg(options.clientKeyFile);
            return nullptr;
        }
        config.setLocalCertificateChain(chain);
        config.setPrivateKey(key);
    }
    return std::shared_ptr<const RedisTlsContext>(new RedisTlsContext(std::move(d)));
}

QString RedisTlsContext::describe() const
{
    const RedisTlsOptions &o = m_d->options;
    QString s = o.insecureSkipVerify ? QStringLiteral("TLS, certificate NOT verified")
        : o.caCertFile.isEmpty()
        ? QStringLiteral("TLS, verified by the system's CAs")
        : QStringLiteral("TLS, verified by %1").arg(QFileInfo(o.caCertFile).fileName());
    if (!o.clientCertFile.isEmpty())
        s += QStringLiteral(", client certificate %1").arg(QFileInfo(o.clientCertFile).fileName());
    return s;
}

namespace detail {

QString describeCertificateErrors(const QList<QSslError> &errors, const QString &host, bool customCa)
{
    QStringList reasons;
    for (const QSslError &e : errors) {
        QString reason;
        switch (e.error()) {
        case QSslError::UnableToGetIssuerCertificate:
        case QSslError::UnableToGetLocalIssuerCertificate:
        case QSslError::UnableToVerifyFirstCertificate:
        case QSslError::SelfSignedCertificate:
        case QSslError::SelfSignedCertificateInChain:
        case QSslError::CertificateUntrusted:
            reason = customCa ? QStringLiteral("unknown CA: it is not signed by a CA in --redis-ca-cert")
                              : QStringLiteral("unknown CA: it is not signed by a CA this system trusts "
                                               "(give the server's CA with --redis-ca-cert FILE)");
            break;
        case QSslError::HostNameMismatch:
            reason = QStringLiteral("wrong name: it is for %1, not %2").arg(namesOf(e.certificate()), host);
            break;
        case QSslError::CertificateExpired:
            reason = QStringLiteral("expired on %1")
                         .arg(e.certificate().expiryDate().toUTC().toString(Qt::ISODate));
            break;
        case QSslError::CertificateNotYetValid:
            reason = QStringLiteral("not valid before %1")
                         .arg(e.certificate().effectiveDate().toUTC().toString(Qt::ISODate));
            break;
        default: reason = e.errorString(); break;
        }
        if (!reasons.contains(reason))
            reasons.append(reason);
    }
    return QStringLiteral("the server's TLS certificate does not verify: ")
        + reasons.join(QStringLiteral("; "));
}

} // namespace detail

} // namespace Cachedash
