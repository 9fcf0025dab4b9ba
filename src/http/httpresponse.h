// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QString>
#include <QVarLengthArray>

#include <utility>

namespace Cachedash {

// One HTTP/1.1 response, written to the socket in a single piece.
struct HttpResponse
{
    // A header line: `name: text`, where text is `value` followed by `number` when it has one
    // ("max-age=" and 30, or just 30). Names are string literals.
    struct Header
    {
        QByteArrayView name;
        QByteArray value;
        qint64 number = 0;
        bool hasNumber = false;
    };

    int status = 200;
    QVarLengthArray<Header, 12> headers;
    QByteArray body;

    void addHeader(QByteArrayView name, QByteArray value) { headers.append({name, std::move(value)}); }
    void addHeader(QByteArrayView name, qint64 number) { headers.append({name, {}, number, true}); }
    void addHeader(QByteArrayView name, QByteArray prefix, qint64 number)
    {
        headers.append({name, std::move(prefix), number, true});
    }
    // The text of the first header of that name (case-insensitive), or empty.
    QByteArray header(QByteArrayView name) const;

    // A JSON body with its Content-Type.
    static HttpResponse json(int status, QByteArray body);
    // {"detail": "..."}, FastAPI's shape for errors.
    static HttpResponse error(int status, const QString &detail);

    // Status line, headers, Content-Length and body, in one allocation. `withBody` false (HEAD)
    // keeps Content-Length but leaves the body out; a 304 has neither. The Connection header says
    // `close` when the connection closes after this answer, and `keep-alive` when
    // `announceKeepAlive` (HTTP/1.0 clients that asked to keep it open).
    QByteArray serialize(bool withBody, bool closeConnection, bool announceKeepAlive = false) const;
};

const char *reasonPhrase(int status);

} // namespace Cachedash
