// SPDX-License-Identifier: GPL-3.0-or-later
#include "httpresponse.h"

#include "report.h"

namespace Cachedash {

QByteArray HttpResponse::header(const QByteArray &name) const
{
    for (const auto &[key, value] : headers) {
        if (key.compare(name, Qt::CaseInsensitive) == 0)
            return value;
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
    return json(status, QByteArrayLiteral("{\"detail\":") + jsonString(detail) + '}');
}

QByteArray HttpResponse::serialize(bool withBody, bool closeConnection, bool announceKeepAlive) const
{
    const bool noBody = status == 304 || status == 204;
    QByteArray out;
    out.reserve(160 + headers.size() * 32 + (withBody ? body.size() : 0));
    out += "HTTP/1.1 ";
    out += QByteArray::number(status);
    out += ' ';
    out += reasonPhrase(status);
    out += "\r\n";
    for (const auto &[key, value] : headers) {
        out += key;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    if (!noBody) {
        out += "Content-Length: ";
        out += QByteArray::number(body.size());
        out += "\r\n";
    }
    if (closeConnection)
        out += "Connection: close\r\n";
    else if (announceKeepAlive)
        out += "Connection: keep-alive\r\n";
    out += "\r\n";
    if (withBody && !noBody)
        out += body;
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
