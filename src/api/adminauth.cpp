// SPDX-License-Identifier: GPL-3.0-or-later
#include "adminauth.h"

#include "apilogging.h"

namespace Cachedash {

bool equalInConstantTime(const QByteArray &a, const QByteArray &b)
{
    unsigned char difference = a.size() == b.size() ? 0 : 1;
    const qsizetype n = std::max(a.size(), b.size());
    for (qsizetype i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? uchar(a[i]) : 0;
        const unsigned char y = i < b.size() ? uchar(b[i]) : 0;
        difference |= x ^ y;
    }
    return difference == 0;
}

std::optional<HttpResponse> AdminAuth::check(
    const QByteArray &authorization, const QString &client, const QString &action) const
{
    if (m_token.isEmpty())
        return std::nullopt;
    const QByteArray prefix = QByteArrayLiteral("Bearer ");
    if (!authorization.startsWith(prefix)) {
        HttpResponse r = HttpResponse::error(
            401, QStringLiteral("%1 needs the admin token: Authorization: Bearer <token>").arg(action));
        r.addHeader("WWW-Authenticate", QByteArrayLiteral("Bearer realm=\"cachedash\""));
        return r;
    }
    if (!equalInConstantTime(authorization.mid(prefix.size()).trimmed(), m_token)) {
        qCWarning(lcApi).noquote() << client << "sent a wrong admin token";
        return HttpResponse::error(403, QStringLiteral("the admin token is not right"));
    }
    return std::nullopt;
}

} // namespace Cachedash
