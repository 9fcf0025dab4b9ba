// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <utility>

namespace Cachedash {

// One HTTP/1.1 response, written to the socket in a single piece.
struct HttpResponse
{
    int status = 200;
    QList<std::pair<QByteArray, QByteArray>> headers;
    QByteArray body;

    void addHeader(QByteArray name, QByteArray value)
    {
        headers.emplaceBack(std::move(name), std::move(value));
    }
    QByteArray header(const QByteArray &name) const;

    // A JSON body with its Content-Type.
    static HttpResponse json(int status, QByteArray body);
    // {"detail": "..."}, FastAPI's shape for errors.
    static HttpResponse error(int status, const QString &detail);

    // Status line, headers, Content-Length and body. `withBody` false (HEAD) keeps Content-Length
    // but leaves the body out; a 304 has neither. The Connection header says `close` when the
    // connection closes after this answer, and `keep-alive` when `announceKeepAlive` (HTTP/1.0
    // clients that asked to keep it open).
    QByteArray serialize(bool withBody, bool closeConnection, bool announceKeepAlive = false) const;
};

const char *reasonPhrase(int status);

} // namespace Cachedash
