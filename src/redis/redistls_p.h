// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "redistls.h"

#include <QList>
#include <QSslConfiguration>
#include <QSslError>

namespace Cachedash {

struct RedisTlsContext::Private
{
    RedisTlsOptions options;
    QSslConfiguration configuration;
};

namespace detail {
// Why the server's certificate did not verify, in words a user acts on: "unknown CA (...)",
// "wrong name: it is for elsewhere.example, not localhost", "expired on ...".
QString describeCertificateErrors(const QList<QSslError> &errors, const QString &host, bool customCa);
} // namespace detail

} // namespace Cachedash
