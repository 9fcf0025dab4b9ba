// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QString>

#include <memory>

namespace Cachedash {

// How a rediss:// connection checks the server, and who it is to the server.
struct RedisTlsOptions
{
    QString caCertFile; // PEM CA bundle to trust instead of the system's CAs
    QString clientCertFile; // PEM certificate for mutual TLS
    QString clientKeyFile; // its PEM private key, not encrypted
    // Accept any certificate, for any name: anyone on the path can read and change the traffic.
    bool insecureSkipVerify = false;

    friend bool operator==(const RedisTlsOptions &, const RedisTlsOptions &) = default;
};

// The TLS settings every connection to Redis shares, loaded once: the CA bundle read, the client
// certificate and its key paired. Loading one loads Qt's TLS backend (OpenSSL): only rediss://
// URLs do, so a plain service never pays for it.
class RedisTlsContext
{
public:
    // Nothing, and *error naming the option and what is wrong with it, when a file cannot be read
    // or holds no certificate (or key), or when this Qt has no TLS backend.
    static std::shared_ptr<const RedisTlsContext> load(const RedisTlsOptions &options, QString *error);
    ~RedisTlsContext();
    RedisTlsContext(const RedisTlsContext &) = delete;
    RedisTlsContext &operator=(const RedisTlsContext &) = delete;

    const RedisTlsOptions &options() const;
    // How the server is checked, for the log and the window: "TLS, verified by the system's CAs",
    // "TLS, verified by ca.pem, client certificate client.pem", "TLS, NOT verified".
    QString describe() const;

    struct Private;
    const Private &d() const { return *m_d; }

private:
    explicit RedisTlsContext(std::unique_ptr<Private> d);
    std::unique_ptr<Private> m_d;
};

} // namespace Cachedash
