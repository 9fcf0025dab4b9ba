// SPDX-License-Identifier: GPL-3.0-or-later
#include "testhttp.h"

#include "rawconnection.h"
#include "testwait.h"

#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonDocument>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTimer>

#include <algorithm>
#include <vector>

namespace Cachedash::Test {

QJsonObject HttpResult::json() const
{
    return QJsonDocument::fromJson(body).object();
}

TestHttp::TestHttp(QUrl base)
    : m_base(std::move(base))
{ }

HttpResult TestHttp::get(const QString &path, const HeaderList &headers)
{
    return send(QByteArrayLiteral("GET"), path, headers);
}

HttpResult TestHttp::post(const QString &path, const HeaderList &headers)
{
    return send(QByteArrayLiteral("POST"), path, headers);
}

HttpResult TestHttp::send(const QByteArray &method, const QString &path, const HeaderList &headers)
{
    QUrl url = m_base;
    url.setPath(path, QUrl::TolerantMode);
    QNetworkRequest request(url);
    for (const auto &[name, value] : headers)
        request.setRawHeader(name, value);
    request.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    QElapsedTimer timer;
    timer.start();
    QNetworkReply *reply = m_nam.sendCustomRequest(request, method);
    QEventLoop loop;
    QObject::connect(reply, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer::singleShot(15000, &loop, &QEventLoop::quit);
    loop.exec();
    HttpResult result;
    result.elapsedMs = timer.elapsed();
    if (reply->isFinished()) {
        result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        for (const auto &pair : reply->rawHeaderPairs())
            result.headers.insert(pair.first.toLower(), pair.second);
        result.body = reply->readAll();
    } else {
        reply->abort();
    }
    reply->deleteLater();
    return result;
}

QByteArray TestHttp::getRequest(const QString &path, const HeaderList &headers)
{
    QByteArray out = "GET " + path.toUtf8() + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto &[name, value] : headers)
        out += name + ": " + value + "\r\n";
    return out + "\r\n";
}

qsizetype TestHttp::parseResponse(const QByteArray &data, qsizetype from, HttpResult *answer)
{
    const qsizetype headEnd = data.indexOf("\r\n\r\n", from);
    if (headEnd < 0)
        return 0;
    const QList<QByteArray> lines = data.mid(from, headEnd - from).split('\n');
    HttpResult r;
    const QList<QByteArray> statusLine = lines.value(0).trimmed().split(' ');
    r.version = statusLine.value(0);
    r.status = statusLine.value(1).toInt();
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const QByteArray line = lines[i].trimmed();
        const qsizetype colon = line.indexOf(':');
        if (colon > 0)
            r.headers.insert(line.left(colon).trimmed().toLower(), line.mid(colon + 1).trimmed());
    }
    // Informational, 204 and 304 answers end with their head, whatever Content-Length says.
    const bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
    const qsizetype length = bodiless ? 0 : r.headers.value("content-length", "0").toLongLong();
    const qsizetype bodyStart = headEnd + 4;
    if (data.size() < bodyStart + length)
        return 0;
    r.body = data.mid(bodyStart, length);
    *answer = std::move(r);
    return bodyStart + length - from;
}

QList<HttpResult> TestHttp::parseResponses(const QByteArray &data)
{
    QList<HttpResult> results;
    HttpResult answer;
    qsizetype pos = 0;
    while (const qsizetype length = parseResponse(data, pos, &answer)) {
        results.append(std::move(answer));
        pos += length;
    }
    return results;
}

QList<HttpResult> TestHttp::concurrentRaw(const QList<QByteArray> &requests, int timeoutMs)
{
    std::vector<RawConnection> connections;
    connections.reserve(size_t(requests.size()));
    for (const QByteArray &request : requests) {
        connections.emplace_back(m_base);
        connections.back().write(request);
    }
    waitUntil(
        [&connections] {
            return std::all_of(connections.begin(), connections.end(),
                [](RawConnection &c) { return !c.answers().isEmpty() || c.isClosed(); });
        },
        timeoutMs);
    QList<HttpResult> results;
    for (RawConnection &connection : connections)
        results.append(connection.answers().value(0));
    return results;
}

QList<HttpResult> TestHttp::rawOnOneConnection(const QByteArray &bytes, int expectedAnswers, int timeoutMs)
{
    RawConnection connection(m_base);
    connection.write(bytes);
    return connection.waitForAnswers(expectedAnswers, timeoutMs);
}

} // namespace Cachedash::Test
