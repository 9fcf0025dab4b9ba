// SPDX-License-Identifier: GPL-3.0-or-later
#include "http/httpresponse.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

#include <limits>

using Cachedash::HttpResponse;
using Cachedash::reasonPhrase;

namespace {

HttpResponse sample(int status, QByteArray body)
{
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.addHeader("Content-Type", QByteArrayLiteral("text/plain"));
    r.addHeader("Age", qint64(7));
    r.addHeader("Cache-Control", QByteArrayLiteral("max-age="), 30);
    return r;
}

constexpr char Head[] = "Content-Type: text/plain\r\nAge: 7\r\nCache-Control: max-age=30\r\n";

} // namespace

class tst_HttpResponse : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void serialize_data();
    void serialize();
    void numbers_data();
    void numbers();
    void header();
    void reasonPhrases_data();
    void reasonPhrases();
    void json();
    void error_data();
    void error();
};

void tst_HttpResponse::serialize_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<bool>("withBody");
    QTest::addColumn<bool>("close");
    QTest::addColumn<bool>("keepAlive");
    QTest::addColumn<QByteArray>("expected");

    const QByteArray head(Head);
    QTest::newRow("200 with body") << 200 << QByteArray("hello") << true << false << false
                                   << QByteArray(
                                          "HTTP/1.1 200 OK\r\n" + head + "Content-Length: 5\r\n\r\nhello");
    QTest::newRow("empty body") << 200 << QByteArray() << true << false << false
                                << QByteArray("HTTP/1.1 200 OK\r\n" + head + "Content-Length: 0\r\n\r\n");
    // HEAD: the length of the body a GET would get, and no body.
    QTest::newRow("HEAD") << 200 << QByteArray("hello") << false << false << false
                          << QByteArray("HTTP/1.1 200 OK\r\n" + head + "Content-Length: 5\r\n\r\n");
    // Neither a length nor a body, even when one is set and asked for.
    QTest::newRow("304") << 304 << QByteArray("hello") << true << false << false
                         << QByteArray("HTTP/1.1 304 Not Modified\r\n" + head + "\r\n");
    QTest::newRow("204") << 204 << QByteArray() << true << false << false
                         << QByteArray("HTTP/1.1 204 No Content\r\n" + head + "\r\n");
    QTest::newRow("close") << 404 << QByteArray("{}") << true << true << false
                           << QByteArray("HTTP/1.1 404 Not Found\r\n" + head
                                  + "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
    QTest::newRow("HTTP/1.0 keep-alive")
        << 200 << QByteArray("x") << true << false << true
        << QByteArray("HTTP/1.1 200 OK\r\n" + head + "Content-Length: 1\r\nConnection: keep-alive\r\n\r\nx");
    // The connection closes after all: saying keep-alive would be a lie.
    QTest::newRow("close wins") << 200 << QByteArray("x") << true << true << true
                                << QByteArray("HTTP/1.1 200 OK\r\n" + head
                                       + "Content-Length: 1\r\nConnection: close\r\n\r\nx");
    QTest::newRow("304 closing") << 304 << QByteArray() << true << true << false
                                 << QByteArray(
                                        "HTTP/1.1 304 Not Modified\r\n" + head + "Connection: close\r\n\r\n");
    QTest::newRow("unknown status") << 299 << QByteArray("x") << true << false << false
                                    << QByteArray(
                                           "HTTP/1.1 299 Unknown\r\n" + head + "Content-Length: 1\r\n\r\nx");
    const QByteArray big(100000, 'b');
    QTest::newRow("large body") << 503 << big << true << false << false
                                << QByteArray("HTTP/1.1 503 Service Unavailable\r\n" + head
                                       + "Content-Length: 100000\r\n\r\n" + big);
}

void tst_HttpResponse::serialize()
{
    QFETCH(int, status);
    QFETCH(QByteArray, body);
    QFETCH(bool, withBody);
    QFETCH(bool, close);
    QFETCH(bool, keepAlive);
    QFETCH(QByteArray, expected);
    QCOMPARE(sample(status, body).serialize(withBody, close, keepAlive), expected);
}

void tst_HttpResponse::numbers_data()
{
    QTest::addColumn<qint64>("number");
    QTest::addColumn<QByteArray>("text");
    QTest::newRow("0") << qint64(0) << QByteArray("0");
    QTest::newRow("negative") << qint64(-1) << QByteArray("-1");
    QTest::newRow("largest") << std::numeric_limits<qint64>::max() << QByteArray("9223372036854775807");
    QTest::newRow("smallest") << std::numeric_limits<qint64>::min() << QByteArray("-9223372036854775808");
}

void tst_HttpResponse::numbers()
{
    QFETCH(qint64, number);
    QFETCH(QByteArray, text);
    HttpResponse r;
    r.status = 200;
    r.addHeader("Retry-After", number);
    r.addHeader("X-Prefixed", QByteArrayLiteral("n="), number);
    QCOMPARE(r.serialize(true, false),
        QByteArray("HTTP/1.1 200 OK\r\nRetry-After: " + text + "\r\nX-Prefixed: n=" + text
            + "\r\nContent-Length: 0\r\n\r\n"));
    QCOMPARE(r.header("retry-after"), text);
}

void tst_HttpResponse::header()
{
    HttpResponse r = sample(200, {});
    r.addHeader("Age", qint64(99)); // a second one of a name: the first is found
    QCOMPARE(r.header("content-type"), QByteArray("text/plain"));
    QCOMPARE(r.header("CONTENT-TYPE"), QByteArray("text/plain"));
    QCOMPARE(r.header("Age"), QByteArray("7"));
    QCOMPARE(r.header("Cache-Control"), QByteArray("max-age=30"));
    QVERIFY(r.header("ETag").isEmpty());
    // Content-Length is written by serialize(), not kept as a header.
    QVERIFY(r.header("Content-Length").isEmpty());
}

void tst_HttpResponse::reasonPhrases_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("reason");
    QTest::newRow("200") << 200 << QByteArray("OK");
    QTest::newRow("304") << 304 << QByteArray("Not Modified");
    QTest::newRow("400") << 400 << QByteArray("Bad Request");
    QTest::newRow("405") << 405 << QByteArray("Method Not Allowed");
    QTest::newRow("408") << 408 << QByteArray("Request Timeout");
    QTest::newRow("413") << 413 << QByteArray("Content Too Large");
    QTest::newRow("422") << 422 << QByteArray("Unprocessable Content");
    QTest::newRow("429") << 429 << QByteArray("Too Many Requests");
    QTest::newRow("431") << 431 << QByteArray("Request Header Fields Too Large");
    QTest::newRow("503") << 503 << QByteArray("Service Unavailable");
    QTest::newRow("505") << 505 << QByteArray("HTTP Version Not Supported");
    QTest::newRow("unknown") << 799 << QByteArray("Unknown");
}

void tst_HttpResponse::reasonPhrases()
{
    QFETCH(int, status);
    QFETCH(QByteArray, reason);
    QCOMPARE(QByteArray(reasonPhrase(status)), reason);
    HttpResponse r;
    r.status = status;
    QVERIFY(r.serialize(true, false)
                .startsWith(QByteArray("HTTP/1.1 " + QByteArray::number(status) + ' ' + reason + "\r\n")));
}

void tst_HttpResponse::json()
{
    const HttpResponse r = HttpResponse::json(200, QByteArrayLiteral("{\"a\":1}"));
    QCOMPARE(r.status, 200);
    QCOMPARE(r.body, QByteArray("{\"a\":1}"));
    QCOMPARE(r.header("Content-Type"), QByteArray("application/json"));
    QCOMPARE(r.serialize(true, false),
        QByteArray(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"));
}

void tst_HttpResponse::error_data()
{
    QTest::addColumn<QString>("detail");
    QTest::addColumn<QByteArray>("body");
    QTest::newRow("plain") << QStringLiteral("not found") << QByteArray("{\"detail\":\"not found\"}");
    QTest::newRow("quote and backslash")
        << QStringLiteral("say \"no\" \\ twice") << QByteArray("{\"detail\":\"say \\\"no\\\" \\\\ twice\"}");
    QTest::newRow("newline and tab") << QStringLiteral("a\nb\tc") << QByteArray("{\"detail\":\"a\\nb\\tc\"}");
    QTest::newRow("control character")
        << QStringLiteral("a\x01z") << QByteArray("{\"detail\":\"a\\u0001z\"}");
    QTest::newRow("utf-8") << QStringLiteral("zürich") << QByteArray("{\"detail\":\"z\xc3\xbcrich\"}");
    QTest::newRow("empty") << QString() << QByteArray("{\"detail\":\"\"}");
}

void tst_HttpResponse::error()
{
    QFETCH(QString, detail);
    QFETCH(QByteArray, body);
    const HttpResponse r = HttpResponse::error(422, detail);
    QCOMPARE(r.status, 422);
    QCOMPARE(r.header("Content-Type"), QByteArray("application/json"));
    QCOMPARE(r.body, body);
    // What a client's JSON parser reads back.
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(r.body, &parseError);
    QCOMPARE(parseError.error, QJsonParseError::NoError);
    QCOMPARE(doc.object().value(QLatin1String("detail")).toString(), detail);
    QCOMPARE(doc.object().size(), 1);
}

QTEST_GUILESS_MAIN(tst_HttpResponse)
#include "tst_httpresponse.moc"
