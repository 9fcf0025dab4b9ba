// SPDX-License-Identifier: GPL-3.0-or-later
#include "httpresponse.h"

#include <QJsonDocument>
#include <QJsonObject>

#include <charconv>
#include <cstring>

namespace Cachedash {

QByteArray HttpResponse::header(QByteArrayView name) const
{
    for (const Header &h : headers) {
        if (h.name.compare(name, Qt::CaseInsensitive) == 0)
            return h.hasNumber ? h.value + QByteArray::number(h.number) : h.value;
    }
    return {};
}

HttpResponse HttpResponse::json(int status, QByteArray body)
{
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.addHeader(QByteArrayLiteral("Content-Type"), QByteArrayLiteral("application/json"));
    return r;
}

HttpResponse HttpResponse::error(int status, const QString &detail)
{
    return json(
        status, QJsonDocument(QJsonObject{{QLatin1String("detail"), detail}}).toJson(QJsonDocument::Compact));
}

namespace {

// Decimal digits of a number, into a buffer long enough for any qint64.
struct Digits
{
    char text[24];
    qsizetype size = 0;
    Digits() = default;
    explicit Digits(qint64 value)
    {
        const auto end = std::to_chars(text, text + sizeof text, value).ptr;
        size = end - text;
    }
    QByteArrayView view() const { return {text, size}; }
};

// Appends pieces to a buffer sized beforehand.
struct Cursor
{
    char *at;
    void put(QByteArrayView piece)
    {
        if (piece.isEmpty())
            return; // its data may be null, which memcpy must not see
        std::memcpy(at, piece.data(), size_t(piece.size()));
        at += piece.size();
    }
};

} // namespace

QByteArray HttpResponse::serialize(bool withBody, bool closeConnection, bool announceKeepAlive) const
{
    const bool noBody = status == 304 || status == 204;
    const Digits code(status);
    const QByteArrayView reason(reasonPhrase(status));
    const Digits length(body.size());
    QByteArrayView connection;
    if (closeConnection)
        connection = "Connection: close\r\n";
    else if (announceKeepAlive)
        connection = "Connection: keep-alive\r\n";

    qsizetype size = 9 + code.size + 1 + reason.size() + 2; // HTTP/1.1 200 OK\r\n
    QVarLengthArray<Digits, 12> numbers;
    for (const Header &h : headers) {
        size += h.name.size() + 2 + h.value.size() + 2;
        if (h.hasNumber)
            size += numbers.emplace_back(h.number).size;
    }
    if (!noBody)
        size += 16 + length.size + 2; // Content-Length: N\r\n
    size += connection.size() + 2;
    const bool bodyOut = withBody && !noBody;
    if (bodyOut)
        size += body.size();

    QByteArray out(size, Qt::Uninitialized);
    Cursor c{out.data()};
    c.put("HTTP/1.1 ");
    c.put(code.view());
    c.put(" ");
    c.put(reason);
    c.put("\r\n");
    const Digits *number = numbers.cbegin();
    for (const Header &h : headers) {
        c.put(h.name);
        c.put(": ");
        c.put(h.value);
        if (h.hasNumber)
            c.put((number++)->view());
        c.put("\r\n");
    }
    if (!noBody) {
        c.put("Content-Length: ");
        c.put(length.view());
        c.put("\r\n");
    }
    c.put(connection);
    c.put("\r\n");
    if (bodyOut)
        c.put(body);
    Q_ASSERT(c.at == out.constData() + out.size());
    return out;
}

const char *reasonPhrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    }
    return "Unknown";
}

} // namespace Cachedash
