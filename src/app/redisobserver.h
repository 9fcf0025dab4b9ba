// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "dashboardsnapshot.h"

#include <QObject>
#include <QTimer>

#include <qcoro/qcorotask.h>

#include <chrono>
#include <memory>

namespace Cachedash {

class RedisSubscriber;
class Service;

// Reads, ten times a second, what the window shows of Redis: the watched report's PTTL and the
// watched client's limiter entries, with Redis's own clock, pipelined in one round trip. Lives on
// the service's thread and uses its connection.
class RedisObserver : public QObject
{
    Q_OBJECT

public:
    explicit RedisObserver(Service &service, QObject *parent = nullptr);
    ~RedisObserver() override;

    void setRegion(const QString &region);
    void setClient(const QString &client);
    // Reads now (after a fetch or refresh) instead of at the next tick.
    void pollSoon();
    void setPollInterval(std::chrono::milliseconds interval);
    // True once Redis sends keyspace notifications for reports: changes by anyone show at once.
    bool notificationsActive() const;

Q_SIGNALS:
    void snapshotReady(const Cachedash::DashboardSnapshot &snapshot);

private:
    QCoro::Task<> poll();
    QCoro::Task<> enableNotifications();
    void onNotification(const QByteArray &channel);

    Service &m_service;
    QTimer m_timer;
    QString m_region = QStringLiteral("emea");
    QString m_client = QStringLiteral("127.0.0.1");
    bool m_polling = false;
    bool m_pollAgain = false; // a poll was asked for while one was running
    std::unique_ptr<RedisSubscriber> m_subscriber;
    QByteArray m_channelPrefix; // __keyspace@DB__:
};

} // namespace Cachedash
