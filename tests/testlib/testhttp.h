// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QNetworkAccessManager>
#include <QUrl>

#include <utility>

namespace Cachedash::Test {

// One HTTP answer as a test sees it.
struct HttpResult
{
    int status = 0; // 0: no answer (connection failed or closed)
    QByteArray version; // "HTTP/1.1", from the status line of an answer read off a raw connection
    QHash<QByteArray, QByteArray> headers; // names in lower case
    QByteArray body;
    qint64 elapsedMs = 0;

    QByteArray header(const QByteArray &name) const { return headers.value(name.toLower()); }
    QJsonObject json() const;
};

using HeaderList = QList<std::pair<QByteArray, QByteArray>>;

// A small synchronous HTTP client over QNetworkAccessManager that spins the event loop while it
// waits, so a server in the same thread keeps serving; and the one parser of raw HTTP/1.1 answers
// that the tests share.
class TestHttp
{
public:
    explicit TestHttp(QUrl base);

    HttpResult get(const QString &path, const HeaderList &headers = {});
    HttpResult post(const QString &path, const HeaderList &headers = {});
    HttpResult send(const QByteArray &method, const QString &path, const HeaderList &headers = {});

    // Sends every raw request on its own connection at once, then waits for all the answers
    // (each request should say Connection: close). Answers come back in the order given.
    QList<HttpResult> concurrentRaw(const QList<QByteArray> &requests, int timeoutMs = 10000);
    // Writes the bytes on one connection and reads until the server closes it, expectedAnswers
    // have come, or timeoutMs passes; returns every answer found, in the order received.
    QList<HttpResult> rawOnOneConnection(const QByteArray &bytes, int expectedAnswers, int timeoutMs = 10000);

    static QByteArray getRequest(const QString &path, const HeaderList &headers = {});
    // Parses the complete answer that starts at `from` in `data` into *answer and returns its
    // length; returns 0, leaving *answer alone, while that answer is incomplete.
    static qsizetype parseResponse(const QByteArray &data, qsizetype from, HttpResult *answer);
    // Parses as many complete HTTP/1.1 answers as `data` holds.
    static QList<HttpResult> parseResponses(const QByteArray &data);

private:
    QUrl m_base;
    QNetworkAccessManager m_nam;
};

} // namespace Cachedash::Test
