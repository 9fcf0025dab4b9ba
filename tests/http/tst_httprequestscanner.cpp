// SPDX-License-Identifier: GPL-3.0-or-later
// The request scanner: where requests end, what it refuses and why, fed whole and a byte at a time.
#include "http/httprequestscanner.h"

#include <QTest>

using namespace Cachedash;

namespace {

struct Outcome
{
    int status = 0; // 0: a complete request
    qsizetype consumed = 0;
    ScannedRequest request;
    bool inRequest = false;
};

Outcome scanWhole(const QByteArray &bytes, const HttpLimits &limits = {})
{
    HttpRequestScanner scanner(limits);
    Outcome o;
    o.consumed = scanner.scan(bytes.constData(), bytes.size());
    o.status = scanner.failed() ? scanner.errorStatus() : (scanner.complete() ? 0 : -1);
    o.request = scanner.request();
    o.inRequest = scanner.inRequest();
    return o;
}

Outcome scanBytewise(const QByteArray &bytes, const HttpLimits &limits = {})
{
    HttpRequestScanner scanner(limits);
    Outcome o;
    for (qsizetype i = 0; i < bytes.size() && !scanner.complete() && !scanner.failed(); ++i)
        o.consumed += scanner.scan(bytes.constData() + i, 1);
    o.status = scanner.failed() ? scanner.errorStatus() : (scanner.complete() ? 0 : -1);
    o.request = scanner.request();
    o.inRequest = scanner.inRequest();
    return o;
}

} // namespace

class tst_HttpRequestScanner : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void verdicts_data();
    void verdicts();
    void pipelinedRequestsEndWhereTheyEnd();
    void bodyIsCountedNotParsed();
    void connectionPersistence_data();
    void connectionPersistence();
    void pathOfEachTargetForm_data();
    void pathOfEachTargetForm();
    void incompleteRequestIsUnderWay();
    void limitsAreTheConfiguredOnes();
};

void tst_HttpRequestScanner::verdicts_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<int>("status");

    const QByteArray host = QByteArrayLiteral("Host: example\r\n");
    QTest::newRow("plain GET") << QByteArray("GET /reports/emea HTTP/1.1\r\n" + host + "\r\n") << 0;
    QTest::newRow("bare LF line ends") << QByteArray("GET / HTTP/1.1\nHost: x\n\n") << 0;
    QTest::newRow("blank lines before") << QByteArray("\r\n\r\nGET / HTTP/1.1\r\n" + host + "\r\n") << 0;
    QTest::newRow("HTTP/1.0 without Host") << QByteArray("GET / HTTP/1.0\r\n\r\n") << 0;
    QTest::newRow("high bytes in target pass on")
        << QByteArray("GET /reports/\xff HTTP/1.1\r\n" + host + "\r\n") << 0;
    QTest::newRow("tab in header value")
        << QByteArray("GET / HTTP/1.1\r\n" + host + "X-A: a\tb\r\n\r\n") << 0;

    QTest::newRow("no Host in HTTP/1.1") << QByteArray("GET / HTTP/1.1\r\n\r\n") << 400;
    QTest::newRow("two Hosts") << QByteArray("GET / HTTP/1.1\r\n" + host + host + "\r\n") << 400;
    QTest::newRow("bare CR") << QByteArray("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n") << 400;
    QTest::newRow("folded header") << QByteArray("GET / HTTP/1.1\r\n" + host + "X-A: a\r\n b\r\n\r\n") << 400;
    QTest::newRow("space before colon") << QByteArray("GET / HTTP/1.1\r\n" + host + "X-A : a\r\n\r\n") << 400;
    QTest::newRow("no colon") << QByteArray("GET / HTTP/1.1\r\n" + host + "nonsense\r\n\r\n") << 400;
    QTest::newRow("NUL in header value")
        << QByteArray("GET / HTTP/1.1\r\n" + host + QByteArray("X-A: a\0b\r\n\r\n", 12)) << 400;
    QTest::newRow("control character in target")
        << QByteArray("GET /a\x01 HTTP/1.1\r\n" + host + "\r\n") << 400;
    QTest::newRow("two spaces") << QByteArray("GET  / HTTP/1.1\r\n" + host + "\r\n") << 400;
    QTest::newRow("no version") << QByteArray("GET /\r\n\r\n") << 400;
    QTest::newRow("not HTTP") << QByteArray("GET / SPDY/3\r\n" + host + "\r\n") << 400;
    QTest::newRow("TLS handshake") << QByteArray("\x16\x03\x01\x02\x01\x01\xfc\x03\x03\n") << 400;
    QTest::newRow("relative target") << QByteArray("GET reports HTTP/1.1\r\n" + host + "\r\n") << 400;
    QTest::newRow("two Content-Lengths")
        << QByteArray("POST / HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nab")
        << 400;
    QTest::newRow("Content-Length not a number")
        << QByteArray("POST / HTTP/1.1\r\n" + host + "Content-Length: 1, 1\r\n\r\nab") << 400;
    QTest::newRow("negative Content-Length")
        << QByteArray("POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n") << 400;
    QTest::newRow("upgrade") << QByteArray(
        "GET / HTTP/1.1\r\n" + host + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
                             << 400;
    QTest::newRow("chunked") << QByteArray(
        "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n")
                             << 411;
    QTest::newRow("body too large") << QByteArray(
        "POST / HTTP/1.1\r\n" + host + "Content-Length: 52428800\r\n\r\n")
                                    << 413;
    QTest::newRow("path of 8 KB") << QByteArray("GET /" + QByteArray(8192, 'a') + " HTTP/1.1\r\n" + host
        + "\r\n") << 414;
    QTest::newRow("header of 40 KB") << QByteArray(
        "GET / HTTP/1.1\r\n" + host + "X-Big: " + QByteArray(40 * 1024, 'a') + "\r\n\r\n")
                                     << 431;
    QTest::newRow("101 headers") << QByteArray(
        "GET / HTTP/1.1\r\n" + host + QByteArray("X-A: b\r\n").repeated(100) + "\r\n")
                                 << 431;
    QTest::newRow("CONNECT") << QByteArray("CONNECT example:443 HTTP/1.1\r\n" + host + "\r\n") << 501;
    QTest::newRow("unknown method") << QByteArray("BREW /pot HTTP/1.1\r\n" + host + "\r\n") << 501;
    QTest::newRow("HTTP/2.0") << QByteArray("GET / HTTP/2.0\r\n" + host + "\r\n") << 505;
    QTest::newRow("HTTP/0.9") << QByteArray("GET / HTTP/0.9\r\n" + host + "\r\n") << 505;
}

void tst_HttpRequestScanner::verdicts()
{
    QFETCH(QByteArray, bytes);
    QFETCH(int, status);
    const Outcome whole = scanWhole(bytes);
    QCOMPARE(whole.status, status);
    // The verdict does not depend on how the bytes are split.
    const Outcome bytewise = scanBytewise(bytes);
    QCOMPARE(bytewise.status, status);
    if (status == 0) {
        QCOMPARE(whole.consumed, bytes.size());
        QCOMPARE(bytewise.consumed, bytes.size());
    }
    // A refusal comes before the rest of an oversized input is taken in.
    QVERIFY(whole.consumed <= bytes.size());
}

void tst_HttpRequestScanner::pipelinedRequestsEndWhereTheyEnd()
{
    const QByteArray first = QByteArrayLiteral("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    const QByteArray second
        = QByteArrayLiteral("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz");
    const QByteArray third = QByteArrayLiteral("GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    const QByteArray stream = first + second + third;

    HttpRequestScanner scanner;
    qsizetype at = 0;
    QList<QByteArray> paths;
    QList<qsizetype> ends;
    while (at < stream.size()) {
        at += scanner.scan(stream.constData() + at, stream.size() - at);
        QVERIFY(!scanner.failed());
        QVERIFY(scanner.complete());
        paths.append(scanner.request().path);
        ends.append(at);
        scanner.next();
    }
    QCOMPARE(paths, (QList<QByteArray>{"/a", "/b", "/c"}));
    QCOMPARE(ends, (QList<qsizetype>{first.size(), first.size() + second.size(), stream.size()}));
}

void tst_HttpRequestScanner::bodyIsCountedNotParsed()
{
    // Body bytes that look like a request line belong to the body.
    const QByteArray request = QByteArrayLiteral(
        "POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n");
    QCOMPARE(request.size() - request.indexOf("\r\n\r\n") - 4, 26);
    const Outcome o = scanWhole(request);
    QCOMPARE(o.status, 0);
    QCOMPARE(o.consumed, request.size());
    QCOMPARE(o.request.bodyLength, 26);
    QCOMPARE(o.request.path, QByteArray("/r"));
}

void tst_HttpRequestScanner::connectionPersistence_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("http10");
    QTest::addColumn<bool>("keepAlive");
    QTest::newRow("1.1 default") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\n\r\n") << false << true;
    QTest::newRow("1.1 close") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                               << false << false;
    QTest::newRow("1.1 close among tokens")
        << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nConnection: TE, Close\r\n\r\n") << false << false;
    QTest::newRow("1.0 default") << QByteArray("GET / HTTP/1.0\r\n\r\n") << true << false;
    QTest::newRow("1.0 keep-alive") << QByteArray("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") << true
                                    << true;
}

void tst_HttpRequestScanner::connectionPersistence()
{
    QFETCH(QByteArray, bytes);
    QFETCH(bool, http10);
    QFETCH(bool, keepAlive);
    const Outcome o = scanWhole(bytes);
    QCOMPARE(o.status, 0);
    QCOMPARE(o.request.http10, http10);
    QCOMPARE(o.request.keepAlive, keepAlive);
}

void tst_HttpRequestScanner::pathOfEachTargetForm_data()
{
    QTest::addColumn<QByteArray>("target");
    QTest::addColumn<QByteArray>("path");
    QTest::newRow("origin") << QByteArray("/reports/emea") << QByteArray("/reports/emea");
    QTest::newRow("query") << QByteArray("/reports/emea?x=1") << QByteArray("/reports/emea");
    QTest::newRow("encoded") << QByteArray("/reports/%C3%A9") << QByteArray("/reports/%C3%A9");
    QTest::newRow("absolute") << QByteArray("http://example:8000/livez?q") << QByteArray("/livez");
    QTest::newRow("absolute, no path") << QByteArray("http://example") << QByteArray("/");
}

void tst_HttpRequestScanner::pathOfEachTargetForm()
{
    QFETCH(QByteArray, target);
    QFETCH(QByteArray, path);
    const Outcome o = scanWhole("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    QCOMPARE(o.status, 0);
    QCOMPARE(o.request.path, path);
}

void tst_HttpRequestScanner::incompleteRequestIsUnderWay()
{
    HttpRequestScanner scanner;
    QVERIFY(!scanner.inRequest());
    const QByteArray half = QByteArrayLiteral("GET /reports/em");
    QCOMPARE(scanner.scan(half.constData(), half.size()), half.size());
    QVERIFY(scanner.inRequest());
    QVERIFY(!scanner.complete());
    QVERIFY(!scanner.failed());
    const QByteArray rest = QByteArrayLiteral("ea HTTP/1.1\r\nHost: x\r\n\r\n");
    QCOMPARE(scanner.scan(rest.constData(), rest.size()), rest.size());
    QVERIFY(scanner.complete());
    QCOMPARE(scanner.request().path, QByteArray("/reports/emea"));
    scanner.next();
    QVERIFY(!scanner.inRequest());
}

void tst_HttpRequestScanner::limitsAreTheConfiguredOnes()
{
    HttpLimits limits;
    limits.maxRequestLine = 32;
    limits.maxHeadBytes = 64;
    limits.maxHeaders = 2;
    limits.maxBody = 4;
    const QByteArray fits
        = QByteArrayLiteral("POST /abc HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd");
    QCOMPARE(scanWhole(fits, limits).status, 0);
    QCOMPARE(scanWhole(
                 QByteArrayLiteral("POST /abc HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"), limits)
                 .status,
        413);
    QCOMPARE(scanWhole("GET /" + QByteArray(30, 'a') + " HTTP/1.1\r\n", limits).status, 414);
    QCOMPARE(scanWhole(QByteArrayLiteral("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n"), limits).status,
        431);
    QCOMPARE(scanWhole("GET / HTTP/1.1\r\nHost: " + QByteArray(60, 'x') + "\r\n\r\n", limits).status, 431);
    // Blank lines before a request count against the head; the limit reached first decides,
    // however the bytes arrive.
    const QByteArray blankThenLong = QByteArray(40, '\n') + "GET /" + QByteArray(40, 'a');
    QCOMPARE(scanWhole(blankThenLong, limits).status, 431);
    QCOMPARE(scanBytewise(blankThenLong, limits).status, 431);
    // The 414 comes as soon as the line is too long, before its end arrives.
    const Outcome early = scanWhole("GET /" + QByteArray(100, 'a'), limits);
    QCOMPARE(early.status, 414);
}

QTEST_APPLESS_MAIN(tst_HttpRequestScanner)
#include "tst_httprequestscanner.moc"
