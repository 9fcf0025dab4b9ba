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
// watched client's limiter entries, with the clock of the node that holds them, pipelined in one
// round trip per node. Keyspace notifications come from the node that holds the watched report
// (they are per node on a cluster), followed there when its slot moves. Lives on the service's
// thread and uses its connections.
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
    // Puts notify-keyspace-events back as it was on every server where this observer changed it
    // (unless someone changed it since), and waits for the answers.
    QCoro::Task<> restoreNotifications();

Q_SIGNALS:
    void snapshotReady(const Cachedash::DashboardSnapshot &snapshot);

private:
    QCoro::Task<> poll();
    // Subscribes to the node holding the watched report, if that is not the one listened to.
    void followReportNode();
    QCoro::Task<> enableNotifications(QString node);
    void onNotification(const QByteArray &channel);

    Service &m_service;
    QTimer m_timer;
    QString m_region = QStringLiteral("emea");
    QString m_client = QStringLiteral("127.0.0.1");
    bool m_polling = false;
    bool m_pollAgain = false; // a poll was asked for while one was running
    std::unique_ptr<RedisSubscriber> m_subscriber;
    QByteArray m_channelPrefix; // __keyspace@DB__:
    QString m_listenedNode; // the node m_subscriber listens to (or is being set up for)
    struct Changed
    {
        QByteArray key; // a key the node holds, to reach it again
        QString node;
        QByteArray before;
        QByteArray after;
    };
    QList<Changed> m_changed; // notify-keyspace-events as found and as set, per node
    QString m_changeNote; // said once in a snapshot, then cleared
};

} // namespace Cachedash
