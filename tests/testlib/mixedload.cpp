// SPDX-License-Identifier: GPL-3.0-or-later
#include "mixedload.h"

#include "testhttp.h"
#include "testwait.h"

#include <QDateTime>
#include <QHostAddress>
#include <QJsonDocument>
#include <QTcpSocket>
#include <QTimer>

#include <algorithm>
#include <utility>

namespace Cachedash::Test {

namespace {

QByteArray requestFor(RequestKind kind, const QString &region, const QByteArray &client)
{
    QByteArray line;
    switch (kind) {
    case RequestKind::Report: line = "GET /reports/" + region.toUtf8() + " HTTP/1.1\r\n"; break;
    case RequestKind::Refresh:
        line = "POST /reports/" + region.toUtf8() + "/refresh HTTP/1.1\r\nContent-Length: 0\r\n";
        break;
    case RequestKind::Health: line = QByteArrayLiteral("GET /healthz HTTP/1.1\r\n"); break;
    }
    return line + "Host: 127.0.0.1\r\nX-Forwarded-For: " + client + "\r\n\r\n";
}

} // namespace

QString labelOf(RequestKind kind)
{
    switch (kind) {
    case RequestKind::Report: return QStringLiteral("GET /reports/{region}");
    case RequestKind::Refresh: return QStringLiteral("POST /reports/{region}/refresh");
    case RequestKind::Health: return QStringLiteral("GET /healthz");
    }
    return {};
}

QJsonObject Exchange::json() const
{
    return QJsonDocument::fromJson(body).object();
}

bool Exchange::fromCache() const
{
    return json().value(QLatin1String("cached")).toBool(false);
}

qint64 Exchange::generatedAtMs() const
{
    const QString at = json().value(QLatin1String("generated_at")).toString();
    const QDateTime parsed = QDateTime::fromString(at, Qt::ISODateWithMs);
    return parsed.isValid() ? parsed.toMSecsSinceEpoch() : -1;
}

MixedLoad::MixedLoad(Settings settings)
    : m_settings(std::move(settings))
{ }

MixedLoad::~MixedLoad()
{
    m_stopped = true;
    for (const auto &loop : m_loops) {
        if (loop->socket)
            loop->socket->disconnect(); // its destructor aborts: no callback into a dying load
    }
}

void MixedLoad::start()
{
    m_startUs = monotonicUs();
    for (int i = 0; i <= m_settings.clients; ++i) {
        auto loop = std::make_unique<Loop>();
        loop->kind = i < m_settings.clients ? RequestKind::Report : RequestKind::Health;
        loop->address = "198.18.7." + QByteArray::number(i + 1);
        open(loop.get());
        m_loops.push_back(std::move(loop));
    }
}

bool MixedLoad::drained() const
{
    return std::none_of(m_loops.cbegin(), m_loops.cend(), [](const auto &l) { return l->pending >= 0; });
}

bool MixedLoad::everyLoopAnswered() const
{
    return !m_loops.empty()
        && std::all_of(m_loops.cbegin(), m_loops.cend(), [](const auto &l) { return l->answers > 0; });
}

void MixedLoad::open(Loop *loop)
{
    if (loop->socket) {
        QTcpSocket *old = loop->socket.release();
        old->disconnect();
        old->deleteLater(); // we may be inside one of its signals
    }
    loop->input.clear();
    loop->socket = std::make_unique<QTcpSocket>();
    QTcpSocket *socket = loop->socket.get();
    QObject::connect(socket, &QTcpSocket::connected, socket, [this, loop] { sendNext(loop); });
    QObject::connect(socket, &QTcpSocket::readyRead, socket, [this, loop] { readAnswers(loop); });
    QObject::connect(socket, &QTcpSocket::stateChanged, socket, [this, loop](QAbstractSocket::SocketState s) {
        if (s == QAbstractSocket::UnconnectedState)
            closed(loop);
    });
    socket->connectToHost(QHostAddress(QHostAddress::LocalHost), m_settings.port);
}

void MixedLoad::sendNext(Loop *loop)
{
    if (m_stopped || loop->pending >= 0 || loop->socket->state() != QAbstractSocket::ConnectedState)
        return;
    Exchange e;
    e.kind = loop->kind;
    if (e.kind == RequestKind::Report) {
        if (m_random.bounded(1000) < m_settings.refreshPerMille)
            e.kind = RequestKind::Refresh;
        e.region = m_settings.regions.at(m_random.bounded(int(m_settings.regions.size())));
    }
    const QByteArray request = requestFor(e.kind, e.region, loop->address);
    e.client = loop->address;
    e.sentWallMs = QDateTime::currentMSecsSinceEpoch();
    e.sentUs = monotonicUs();
    loop->pending = qsizetype(m_exchanges.size());
    m_exchanges.push_back(std::move(e));
    loop->socket->write(request);
}

void MixedLoad::readAnswers(Loop *loop)
{
    loop->input += loop->socket->readAll();
    HttpResult answer;
    while (const qsizetype used = TestHttp::parseResponse(loop->input, 0, &answer)) {
        loop->input.remove(0, used);
        if (loop->pending < 0) {
            ++m_unexpected;
            continue;
        }
        ++loop->answers;
        Exchange &e = m_exchanges[size_t(std::exchange(loop->pending, -1))];
        e.doneUs = monotonicUs();
        e.status = answer.status;
        e.xCache = answer.header(QByteArrayLiteral("x-cache"));
        e.retryAfter = answer.header(QByteArrayLiteral("retry-after"));
        e.body = std::move(answer.body);
        const int pause = loop->kind == RequestKind::Health
            ? m_settings.healthEveryMs
            : m_random.bounded(m_settings.thinkMinMs, m_settings.thinkMaxMs + 1);
        QTimer::singleShot(pause, Qt::PreciseTimer, loop->socket.get(), [this, loop] { sendNext(loop); });
    }
}

void MixedLoad::closed(Loop *loop)
{
    ++m_closed;
    if (loop->pending >= 0)
        m_exchanges[size_t(std::exchange(loop->pending, -1))].connectionClosed = true;
    if (!m_stopped)
        QTimer::singleShot(20, loop->socket.get(), [this, loop] { open(loop); });
}

} // namespace Cachedash::Test
