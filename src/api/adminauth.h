// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "http/httpresponse.h"

#include <QByteArray>
#include <QString>

#include <optional>

namespace Cachedash {

// Guards the admin routes with a bearer token, when one is set: "Authorization: Bearer <token>".
// Without the header: 401 with WWW-Authenticate; with another token: 403. Tokens are compared in
// constant time.
class AdminAuth
{
public:
    void setToken(const QByteArray &token) { m_token = token; }
    bool isEnabled() const { return !m_token.isEmpty(); }

    // Nothing when the request may go on; otherwise the answer that refuses it. `action` names
    // what the token is needed for ("invalidating a report").
    std::optional<HttpResponse> check(
        const QByteArray &authorization, const QString &client, const QString &action) const;

private:
    QByteArray m_token;
};

// Compares without an early exit, so the time taken does not tell how much of a guess was right.
bool equalInConstantTime(const QByteArray &a, const QByteArray &b);

} // namespace Cachedash
