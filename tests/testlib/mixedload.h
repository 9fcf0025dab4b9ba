// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QString>
#include <QStringList>

#include <memory>
#include <vector>

class QTcpSocket;

namespace Cachedash::Test {

// What a request of the load asks for.
enum class RequestKind { Report, Refresh, Health };

// "GET /reports/{region}", "POST /reports/{region}/refresh", "GET /healthz".
QString labelOf(RequestKind kind);

// One request of a load and its answer, as the client saw them.
struct Exchange
{
    RequestKind kind = RequestKind::Report;
    QString region;
    QByteArray client; // the X-Forwarded-For address of the loop that sent it
    qint64 sentUs = 0; // monotonic (monotonicUs()), just before the request was written
    qint64 sentWallMs = 0; // the wall clock at that moment (generated_at is on the wall clock)
    qint64 doneUs = -1; // monotonic, when the whole answer had been read; -1: no answer
    int status = 0;
    QByteArray xCache;
    QByteArray retryAfter;
    QByteArray body;
    bool connectionClosed = false; // the connection closed while this waited for its answer

    bool answered() const { return doneUs >= 0; }
    double latencyMs() const { return double(doneUs - sentUs) / 1000.0; }
    QJsonObject json() const;
    bool fromCache() const;
    // generated_at in ms since the epoch, or -1 without a valid one.
    qint64 generatedAtMs() const;
};

// A concurrent mixed load on the service's API, recorded request by request: client loops over
// keep-alive connections, each with one request outstanding at a time: a report (GET) or, now and
// then, a refresh (POST) of a random region, then a short random pause; plus one loop that asks
// /healthz every few ms. Each loop has its own X-Forwarded-For address (the service must trust
// 127.0.0.1 as a proxy). A connection the server closes is opened again. It runs on the event loop
// of the thread that starts it; the seed is fixed, so runs are alike.
class MixedLoad
{
public:
    struct Settings
    {
        quint16 port = 0;
        int clients = 12;
        QStringList regions;
        int refreshPerMille = 15;
        int thinkMinMs = 2;
        int thinkMaxMs = 20;
        int healthEveryMs = 20;
    };

    explicit MixedLoad(Settings settings);
    ~MixedLoad();
    MixedLoad(const MixedLoad &) = delete;
    MixedLoad &operator=(const MixedLoad &) = delete;

    void start();
    // No new requests from now on; those under way still get their answers.
    void stop() { m_stopped = true; }
    // No request is waiting for its answer.
    bool drained() const;
    // Every client loop and the /healthz loop has had at least one answer: the load is flowing.
    bool everyLoopAnswered() const;

    const Settings &settings() const { return m_settings; }
    qint64 startUs() const { return m_startUs; }
    const std::vector<Exchange> &exchanges() const { return m_exchanges; }
    // Answers that came when no request was waiting for one.
    int unexpectedAnswers() const { return m_unexpected; }
    int connectionsClosed() const { return m_closed; }

private:
    struct Loop
    {
        RequestKind kind = RequestKind::Report;
        QByteArray address;
        std::unique_ptr<QTcpSocket> socket;
        QByteArray input;
        qsizetype pending = -1; // the exchange waiting for its answer
        int answers = 0;
    };

    void open(Loop *loop);
    void sendNext(Loop *loop);
    void readAnswers(Loop *loop);
    void closed(Loop *loop);

    Settings m_settings;
    QRandomGenerator m_random{20261128u};
    std::vector<std::unique_ptr<Loop>> m_loops;
    std::vector<Exchange> m_exchanges;
    qint64 m_startUs = 0;
    bool m_stopped = false;
    int m_unexpected = 0;
    int m_closed = 0;
};

} // namespace Cachedash::Test
