// SPDX-License-Identifier: GPL-3.0-or-later
#include "http/httpserver.h"
#include "testlib/rawconnection.h"
#include "testlib/testhttp.h"

#include <QElapsedTimer>
#include <QTcpSocket>
#include <QTest>

#include <memory>

#include <sys/socket.h>

using namespace std::chrono_literals;
using Cachedash::HttpHandler;
using Cachedash::HttpHeaders;
using Cachedash::HttpRequest;
using Cachedash::HttpResponse;
using Cachedash::HttpServer;
using Cachedash::Test::HttpResult;
using Cachedash::Test::RawConnection;

namespace {

// Answers "METHOD path" as plain text, at once or when the test says (hold), and keeps what it saw.
class RecordingHandler : public HttpHandler
{
public:
    explicit RecordingHandler(HttpServer &server)
        : m_server(server)
    { }

    static HttpResponse answerTo(const HttpRequest &request)
    {
        HttpResponse r;
        r.addHeader("Content-Type", QByteArrayLiteral("text/plain"));
        r.body = request.methodName + ' ' + request.path;
        return r;
    }

    void handle(HttpRequest request, const HttpHeaders &headers) override
    {
        // Headers live only during this call.
        tags << headers.value("X-Tag");
        handled << request;
        if (hold)
            held << request;
        else
            m_server.respond(request, answerTo(request));
    }

    void handleRefusal(HttpRequest request, const HttpResponse &refusal) override
    {
        refused << request;
        refusals << refusal.status;
        m_server.respond(request, refusal);
    }

    bool hold = false;
    QList<HttpRequest> handled;
    QList<HttpRequest> held;
    QByteArrayList tags;
    QList<HttpRequest> refused;
    QList<int> refusals;

private:
    HttpServer &m_server;
};

// Leaves with a reset (RST) rather than a FIN: the server's next read fails at once.
void resetConnection(RawConnection &client)
{
    const linger abort{1, 0};
    ::setsockopt(int(client.socket().socketDescriptor()), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    client.abort();
}

QByteArray get(const QByteArray &path, const QByteArray &extra = {})
{
    return "GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

QByteArrayList bodiesOf(const QList<HttpResult> &answers)
{
    QByteArrayList bodies;
    for (const HttpResult &a : answers)
        bodies << a.body;
    return bodies;
}

} // namespace

class tst_HttpServer : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void answersCarryTheRequest();
    void pipelinedAnswersLeaveInRequestOrder_data();
    void pipelinedAnswersLeaveInRequestOrder();
    void malformedRequestIsRefusedAndCloses_data();
    void malformedRequestIsRefusedAndCloses();
    void slowRequestGets408();
    void headGetsNoBody();
    void connectionHeader_data();
    void connectionHeader();
    void halfClosedClientStillGetsItsAnswer();
    void respondAfterTheClientLeftIsDropped_data();
    void respondAfterTheClientLeftIsDropped();
    void capMakesRoomByClosingAnIdleConnection();
    void capAnswers503WhenEveryConnectionIsBusy();
    void quietConnectionsClose_data();
    void quietConnectionsClose();
    void stopListeningStillAnswersWhatIsUnderWay();

private:
    // A server on a free loopback port with `limits`, answered by a fresh handler.
    bool startServer(HttpServer::Limits limits = {});

    std::unique_ptr<HttpServer> m_server;
    std::unique_ptr<RecordingHandler> m_handler;
};

bool tst_HttpServer::startServer(HttpServer::Limits limits)
{
    m_handler.reset();
    m_server = std::make_unique<HttpServer>();
    m_handler = std::make_unique<RecordingHandler>(*m_server);
    m_server->setHandler(m_handler.get());
    m_server->setLimits(limits);
    QString error;
    if (!m_server->listenOn(QHostAddress::LocalHost, 0, &error)) {
        qWarning() << error;
        return false;
    }
    return m_server->port() != 0;
}

void tst_HttpServer::answersCarryTheRequest()
{
    QVERIFY(startServer());
    RawConnection client(m_server->port());
    QVERIFY(client.waitForConnected());
    client.write(get("/reports/a%20b?x=1", "X-Tag: first\r\n"));
    QCOMPARE(client.waitForAnswers(1).size(), 1);
    const HttpResult answer = client.answers().at(0);
    QCOMPARE(answer.status, 200);
    // The path as sent: still percent-encoded, without the query.
    QCOMPARE(answer.body, QByteArray("GET /reports/a%20b"));
    QVERIFY(answer.header("Connection").isEmpty()); // HTTP/1.1 keeps it open without saying so

    client.write(get("/second", "X-Tag: second\r\n"));
    QCOMPARE(client.waitForAnswers(2).size(), 2);
    QCOMPARE(m_handler->tags, (QByteArrayList{"first", "second"}));
    const HttpRequest &first = m_handler->handled.at(0);
    const HttpRequest &second = m_handler->handled.at(1);
    QCOMPARE(first.method, HttpRequest::Method::Get);
    QCOMPARE(first.peer, QStringLiteral("127.0.0.1"));
    QVERIFY(!first.head);
    QVERIFY(!first.close);
    QVERIFY(second.id > first.id);
    QVERIFY(first.startedMs > 0);
    QCOMPARE(m_server->counters().accepted, quint64(1));
    QCOMPARE(m_server->connectionCount(), 1);
    QVERIFY(!client.isClosed());
}

void tst_HttpServer::pipelinedAnswersLeaveInRequestOrder_data()
{
    QTest::addColumn<QList<int>>("answerOrder");
    QTest::newRow("in order") << QList<int>{0, 1, 2, 3};
    QTest::newRow("reversed") << QList<int>{3, 2, 1, 0};
    QTest::newRow("middle first") << QList<int>{2, 1, 3, 0};
    QTest::newRow("first last") << QList<int>{1, 2, 3, 0};
}

void tst_HttpServer::pipelinedAnswersLeaveInRequestOrder()
{
    QFETCH(QList<int>, answerOrder);
    QVERIFY(startServer());
    m_handler->hold = true;
    RawConnection client(m_server->port());
    QVERIFY(client.waitForConnected());
    // Four requests in one write.
    client.write(get("/0") + get("/1") + get("/2") + get("/3"));
    QTRY_COMPARE(m_handler->held.size(), 4);

    QList<bool> answered(4, false);
    int leftSoFar = 0;
    for (int index : answerOrder) {
        m_server->respond(m_handler->held.at(index), RecordingHandler::answerTo(m_handler->held.at(index)));
        answered[index] = true;
        // Only the answers with every earlier one answered can leave.
        int canLeave = 0;
        while (canLeave < 4 && answered[canLeave])
            ++canLeave;
        if (canLeave > leftSoFar) {
            QCOMPARE(client.waitForAnswers(canLeave).size(), canLeave);
            leftSoFar = canLeave;
        }
        QCOMPARE(client.answers().size(), leftSoFar);
    }
    QCOMPARE(bodiesOf(client.answers()), (QByteArrayList{"GET /0", "GET /1", "GET /2", "GET /3"}));
    QVERIFY(!client.isClosed());
}

void tst_HttpServer::malformedRequestIsRefusedAndCloses_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("method");
    // A request line of the wrong shape is kept whole, for the log.
    QTest::newRow("no version") << QByteArray("GET /x\r\n\r\n") << 400 << QByteArray("GET /x");
    QTest::newRow("no Host") << QByteArray("GET /x HTTP/1.1\r\n\r\n") << 400 << QByteArray("GET");
    QTest::newRow("unknown method") << QByteArray("BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n") << 501
                                    << QByteArray("BREW");
    QTest::newRow("HTTP/2.0") << QByteArray("GET / HTTP/2.0\r\nHost: t\r\n\r\n") << 505 << QByteArray("GET");
    QTest::newRow("chunked") << QByteArray(
        "POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
                             << 411 << QByteArray("POST");
    QTest::newRow("body too large") << QByteArray(
        "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n")
                                    << 413 << QByteArray("POST");
    // Refused before its request line was whole: nothing of it to name.
    QTest::newRow("request line too long") << get("/" + QByteArray(1100, 'a')) << 414 << QByteArray("-");
}

void tst_HttpServer::malformedRequestIsRefusedAndCloses()
{
    QFETCH(QByteArray, request);
    QFETCH(int, status);
    QFETCH(QByteArray, method);
    HttpServer::Limits limits;
    limits.http.maxBody = 1000;
    limits.http.maxRequestLine = 1024;
    QVERIFY(startServer(limits));
    RawConnection client(m_server->port());
    QVERIFY(client.waitForConnected());
    // A good request first, the bad one, and one more that is never read.
    client.write(get("/good") + request + get("/never"));

    client.waitForClose(5000);
    QVERIFY(client.isClosed());
    const QList<HttpResult> answers = client.answers();
    QCOMPARE(answers.size(), 2);
    QCOMPARE(answers.at(0).body, QByteArray("GET /good"));
    QCOMPARE(answers.at(1).status, status);
    QCOMPARE(answers.at(1).header("Connection"), QByteArray("close"));
    QCOMPARE(answers.at(1).header("Content-Type"), QByteArray("application/json"));
    QVERIFY(!answers.at(1).json().value(QLatin1String("detail")).toString().isEmpty());

    QCOMPARE(m_handler->handled.size(), 1);
    QCOMPARE(m_handler->refusals, QList<int>{status});
    const HttpRequest &refused = m_handler->refused.at(0);
    QCOMPARE(refused.methodName, method);
    QVERIFY(refused.close);
    QVERIFY(refused.id > m_handler->handled.at(0).id);
    QCOMPARE(m_server->counters().timedOut, quint64(0));
}

void tst_HttpServer::slowRequestGets408()
{
    HttpServer::Limits limits;
    limits.requestTimeout = 200ms;
    QVERIFY(startServer(limits));
    RawConnection client(m_server->port());
    QVERIFY(client.waitForConnected());
    QElapsedTimer clock;
    clock.start();
    client.write("GET /slow HTTP/1.1\r\nHost: t\r\n"); // the head never ends

    client.waitForClose(3000);
    QVERIFY(client.isClosed());
    QVERIFY(clock.elapsed() >= 200);
    const QList<HttpResult> answers = client.answers();
    QCOMPARE(answers.size(), 1);
    QCOMPARE(answers.at(0).status, 408);
    QCOMPARE(answers.at(0).header("Connection"), QByteArray("close"));
    QCOMPARE(m_handler->refusals, QList<int>{408});
    QCOMPARE(m_handler->refused.at(0).path, QByteArray("/slow"));
    QVERIFY(m_handler->handled.isEmpty());
    QCOMPARE(m_server->counters().timedOut, quint64(1));
}

void tst_HttpServer::headGetsNoBody()
{
    QVERIFY(startServer());
    RawConnection client(m_server->port());
    QVERIFY(client.waitForConnected());
    client.write("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n" + get("/g"));
    // The HEAD answer announces the body a GET would get, and the next answer follows at once.
    const QByteArray expected(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nGET /g");
    QVERIFY(client.waitForReceived(
        [&](const QByteArray &bytes) { return bytes.size() >= expected.size(); }, 5000));
    QCOMPARE(client.received(), expected);
    QVERIFY(m_handler->handled.at(0).head);
    QCOMPARE(m_handler->handled.at(0).method, HttpRequest::Method::Head);
    QVERIFY(!m_handler->handled.at(1).head);
}

void tst_HttpServer::connectionHeader_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<QByteArray>("connection");
    QTest::addColumn<bool>("closes");
    QTest::newRow("1.1") << get("/") << QByteArray() << false;
    QTest::newRow("1.1 close") << get("/", "Connection: close\r\n") << QByteArray("close") << true;
    QTest::newRow("1.0") << QByteArray("GET / HTTP/1.0\r\n\r\n") << QByteArray("close") << true;
    // An HTTP/1.0 client closes unless told the connection stays open.
    QTest::newRow("1.0 keep-alive") << QByteArray("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                                    << QByteArray("keep-alive") << false;
}

void tst_HttpServer::connectionHeader()
{
    QFETCH(QByteArray, request);
    QFETCH(QByteArray, connection);
    QFETCH(bool, closes);
    QVERIFY(startServer());
    RawConnection client(m_server->port());
    QVERIFY(client.waitForConnected());
    client.write(request);
    QCOMPARE(client.waitForAnswers(1).size(), 1);
    QCOMPARE(client.answers().at(0).header("Connection"), connection);
    QCOMPARE(m_handler->handled.at(0).close, closes);
    if (closes) {
        client.waitForClose(5000);
        QVERIFY(client.isClosed());
    } else {
        // Still open: a second request gets its answer the same way.
        client.write(request);
        QCOMPARE(client.waitForAnswers(2).size(), 2);
        QCOMPARE(client.answers().at(1).header("Connection"), connection);
        QVERIFY(!client.isClosed());
    }
}

void tst_HttpServer::halfClosedClientStillGetsItsAnswer()
{
    QVERIFY(startServer());
    m_handler->hold = true;
    RawConnection client(m_server->port());
    QVERIFY(client.waitForConnected());
    client.write(get("/a") + get("/b"));
    client.halfClose();
    QTRY_COMPARE(m_handler->held.size(), 2);
    m_server->respond(m_handler->held.at(1), RecordingHandler::answerTo(m_handler->held.at(1)));
    m_server->respond(m_handler->held.at(0), RecordingHandler::answerTo(m_handler->held.at(0)));
    QCOMPARE(client.waitForAnswers(2).size(), 2);
    QCOMPARE(bodiesOf(client.answers()), (QByteArrayList{"GET /a", "GET /b"}));
    // Then the server closes: the client said all it would.
    client.waitForClose(5000);
    QVERIFY(client.isClosed());
    QTRY_COMPARE(m_server->connectionCount(), 0);
}

void tst_HttpServer::respondAfterTheClientLeftIsDropped_data()
{
    QTest::addColumn<bool>("reset");
    QTest::newRow("closed") << false;
    QTest::newRow("reset") << true;
}

void tst_HttpServer::respondAfterTheClientLeftIsDropped()
{
    QFETCH(bool, reset);
    QVERIFY(startServer());
    m_handler->hold = true;
    {
        RawConnection client(m_server->port());
        QVERIFY(client.waitForConnected());
        client.write(get("/gone"));
        QTRY_COMPARE(m_handler->held.size(), 1);
        if (reset) {
            resetConnection(client);
            QTRY_COMPARE(m_server->connectionCount(), 0); // the server has noticed
        }
    }
    m_server->respond(m_handler->held.at(0), RecordingHandler::answerTo(m_handler->held.at(0)));
    QTRY_COMPARE(m_server->connectionCount(), 0);

    // The server goes on serving.
    m_handler->hold = false;
    RawConnection next(m_server->port());
    QVERIFY(next.waitForConnected());
    next.write(get("/next"));
    QCOMPARE(next.waitForAnswers(1).size(), 1);
    QCOMPARE(next.answers().at(0).body, QByteArray("GET /next"));
}

void tst_HttpServer::capMakesRoomByClosingAnIdleConnection()
{
    HttpServer::Limits limits;
    limits.maxConnections = 2;
    QVERIFY(startServer(limits));
    RawConnection idle(m_server->port());
    QVERIFY(idle.waitForConnected());
    idle.write(get("/idle"));
    QCOMPARE(idle.waitForAnswers(1).size(), 1);

    m_handler->hold = true;
    RawConnection busy(m_server->port());
    QVERIFY(busy.waitForConnected());
    busy.write(get("/busy"));
    QTRY_COMPARE(m_handler->held.size(), 1);
    QCOMPARE(m_server->connectionCount(), 2);

    // A third client: the idle keep-alive connection makes room, the busy one is left alone.
    RawConnection third(m_server->port());
    QVERIFY(third.waitForConnected());
    third.write(get("/third"));
    QTRY_COMPARE(m_handler->held.size(), 2);
    idle.waitForClose(5000);
    QVERIFY(idle.isClosed());
    QVERIFY(!busy.isClosed());
    QCOMPARE(m_server->counters().evicted, quint64(1));
    QCOMPARE(m_server->counters().refused, quint64(0));
    QCOMPARE(m_server->counters().accepted, quint64(3));

    for (const HttpRequest &r : std::as_const(m_handler->held))
        m_server->respond(r, RecordingHandler::answerTo(r));
    QCOMPARE(busy.waitForAnswers(1).size(), 1);
    QCOMPARE(third.waitForAnswers(1).size(), 1);
    QCOMPARE(third.answers().at(0).body, QByteArray("GET /third"));
}

void tst_HttpServer::capAnswers503WhenEveryConnectionIsBusy()
{
    HttpServer::Limits limits;
    limits.maxConnections = 2;
    QVERIFY(startServer(limits));
    m_handler->hold = true;
    RawConnection a(m_server->port());
    RawConnection b(m_server->port());
    QVERIFY(a.waitForConnected());
    QVERIFY(b.waitForConnected());
    a.write(get("/a"));
    b.write(get("/b"));
    QTRY_COMPARE(m_handler->held.size(), 2);

    RawConnection refused(m_server->port());
    QVERIFY(refused.waitForConnected());
    refused.waitForClose(5000);
    QVERIFY(refused.isClosed());
    const QList<HttpResult> answers = refused.answers();
    QCOMPARE(answers.size(), 1);
    QCOMPARE(answers.at(0).status, 503);
    QCOMPARE(answers.at(0).header("Retry-After"), QByteArray("1"));
    QCOMPARE(answers.at(0).header("Connection"), QByteArray("close"));
    QCOMPARE(m_server->counters().refused, quint64(1));
    QCOMPARE(m_server->counters().evicted, quint64(0));
    QCOMPARE(m_server->counters().accepted, quint64(3));
    QVERIFY(m_handler->refusals.isEmpty()); // refused before any request: the handler never knew

    // The busy ones still get their answers.
    for (const HttpRequest &r : std::as_const(m_handler->held))
        m_server->respond(r, RecordingHandler::answerTo(r));
    QCOMPARE(a.waitForAnswers(1).size(), 1);
    QCOMPARE(b.waitForAnswers(1).size(), 1);
}

void tst_HttpServer::quietConnectionsClose_data()
{
    QTest::addColumn<bool>("servedFirst");
    // A new connection gets the request timeout to begin; between requests, the idle timeout.
    QTest::newRow("silent since it opened") << false;
    QTest::newRow("idle after an answer") << true;
}

void tst_HttpServer::quietConnectionsClose()
{
    QFETCH(bool, servedFirst);
    HttpServer::Limits limits;
    limits.requestTimeout = servedFirst ? 10s : 200ms;
    limits.idleTimeout = servedFirst ? 200ms : 10s;
    QVERIFY(startServer(limits));
    RawConnection client(m_server->port());
    QVERIFY(client.waitForConnected());
    if (servedFirst) {
        client.write(get("/x"));
        QCOMPARE(client.waitForAnswers(1).size(), 1);
    }
    QElapsedTimer clock;
    clock.start();
    client.waitForClose(3000);
    QVERIFY(client.isClosed());
    QVERIFY(clock.elapsed() >= 150);
    // Closed without a word: there was no request to answer.
    QCOMPARE(client.answers().size(), servedFirst ? 1 : 0);
    QCOMPARE(m_server->counters().timedOut, quint64(0));
    QTRY_COMPARE(m_server->connectionCount(), 0);
}

void tst_HttpServer::stopListeningStillAnswersWhatIsUnderWay()
{
    QVERIFY(startServer());
    m_handler->hold = true;
    RawConnection client(m_server->port());
    QVERIFY(client.waitForConnected());
    client.write(get("/late"));
    QTRY_COMPARE(m_handler->held.size(), 1);
    m_server->stopListening();

    QTcpSocket refused;
    refused.connectToHost(QHostAddress::LocalHost, m_server->port());
    QVERIFY(!refused.waitForConnected(5000));
    QCOMPARE(refused.error(), QAbstractSocket::ConnectionRefusedError);

    m_server->respond(m_handler->held.at(0), RecordingHandler::answerTo(m_handler->held.at(0)));
    QCOMPARE(client.waitForAnswers(1).size(), 1);
    QCOMPARE(client.answers().at(0).body, QByteArray("GET /late"));
}

QTEST_GUILESS_MAIN(tst_HttpServer)
#include "tst_httpserver.moc"
