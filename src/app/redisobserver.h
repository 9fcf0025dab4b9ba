// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "dashboardsnapshot.h"

#include <QObject>
#include <QTimer>

#include <qcoro/qcorotask.h>

namespace Cachedash {

class Service;

// Reads, ten times a second, what the window shows of Redis: the watched report's PTTL and the
// watched client's limiter entries, with Redis's own clock, pipelined in one round trip. Lives on
// the service's thread and uses its connection.
class RedisObserver : public QObject
{
    Q_OBJECT

public:
    explicit RedisObserver(Service &service, QObject *parent = nullptr);

    void setRegion(const QString &region);
    void setClient(const QString &client);
    // Reads now (after a fetch or refresh) instead of at the next tick.
    void pollSoon();

Q_SIGNALS:
    void snapshotReady(const Cachedash::DashboardSnapshot &snapshot);

private:
    QCoro::Task<> poll();

    Service &m_service;
    QTimer m_timer;
    QString m_region = QStringLiteral("emea");
    QString m_client = QStringLiteral("127.0.0.1");
    bool m_polling = false;
};

} // namespace Cachedash
