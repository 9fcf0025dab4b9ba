// SPDX-License-Identifier: GPL-3.0-or-later
#include "testhttp.h"

#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonDocument>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTcpSocket>
#include <QTest>
#include <QTimer>

#include <memory>

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

QList<HttpResult> TestHttp::parseResponses(const QByteArray &data)
{
    QList<HttpResult> results;
    qsizetype pos = 0;
    while (pos < data.size()) {
        const qsizetype headEnd = data.indexOf("\r\n\r\n", pos);
        if (headEnd < 0)
            break;
        const QList<QByteArray> lines = data.mid(pos, headEnd - pos).split('\n');
        HttpResult r;
        const QList<QByteArray> statusLine = lines.value(0).trimmed().split(' ');
        r.status = statusLine.value(1).toInt();
        for (qsizetype i = 1; i < lines.size(); ++i) {
            const QByteArray line = lines[i].trimmed();
            const qsizetype colon = line.indexOf(':');
            if (colon > 0)
                r.headers.insert(line.left(colon).trimmed().toLower(), line.mid(colon + 1).trimmed());
        }
        const qsizetype length = r.headers.value("content-length", "0").toLongLong();
        const qsizetype bodyStart = headEnd + 4;
        if (data.size() < bodyStart + length)
            break;
        r.body = data.mid(bodyStart, length);
        results.append(r);
        pos = bodyStart + length;
    }
    return results;
}

QList<HttpResult> TestHttp::concurrentRaw(const QList<QByteArray> &requests, int timeoutMs)
{
    std::vector<std::unique_ptr<QTcpSocket>> sockets;
    std::vector<QByteArray> received(size_t(requests.size()));
    QElapsedTimer timer;
    timer.start();
    for (const QByteArray &request : requests) {
        auto socket = std::make_unique<QTcpSocket>();
        socket->connectToHost(m_base.host(), quint16(m_base.port()));
        socket->write(request);
        sockets.push_back(std::move(socket));
    }
    auto done = [&] {
        for (size_t i = 0; i < sockets.size(); ++i) {
            received[i] += sockets[i]->readAll();
            if (parseResponses(received[i]).isEmpty()
                && sockets[i]->state() != QAbstractSocket::UnconnectedState)
                return false;
        }
        return true;
    };
    while (!done() && timer.elapsed() < timeoutMs)
        QTest::qWait(5);
    QList<HttpResult> results;
    for (size_t i = 0; i < sockets.size(); ++i) {
        const QList<HttpResult> parsed = parseResponses(received[i]);
        results.append(parsed.isEmpty() ? HttpResult{} : parsed.first());
    }
    return results;
}

QList<HttpResult> TestHttp::rawOnOneConnection(const QByteArray &bytes, int expectedAnswers, int timeoutMs)
{
    QTcpSocket socket;
    socket.connectToHost(m_base.host(), quint16(m_base.port()));
    socket.write(bytes);
    QByteArray received;
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < timeoutMs) {
        QTest::qWait(5);
        received += socket.readAll();
        if (parseResponses(received).size() >= expectedAnswers
            || socket.state() == QAbstractSocket::UnconnectedState)
            break;
    }
    received += socket.readAll();
    return parseResponses(received);
}

} // namespace Cachedash::Test
