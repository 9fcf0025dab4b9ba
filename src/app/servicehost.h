// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "algorithmcomparison.h"
#include "dashboardsnapshot.h"
#include "requestfeed.h"
#include "service/service.h"
#include "service/serviceoptions.h"

#include <QObject>
#include <QThread>

#include <memory>

namespace Cachedash {

class ServiceWorker;

// Runs the whole service (HTTP server, Redis connection, computations) on a thread of its own, so
// that serving never waits for painting and painting never waits for serving. The window talks to
// it through this object only: requests arrive through feed(), Redis state through snapshotReady().
class ServiceHost : public QObject
{
    Q_OBJECT

public:
    explicit ServiceHost(ServiceOptions options, QObject *parent = nullptr);
    ~ServiceHost() override;

    // Starts the service and waits (spinning the event loop) until it listens or fails.
    bool start(QString *error);
    void stop();

    RequestFeed &feed() { return m_feed; }
    const ServiceOptions &options() const { return m_options; }
    QString baseUrl() const { return m_baseUrl; }
    // Without credentials.
    QString redisUrl() const { return m_redisUrl; }
    bool usesPrivateRedis() const { return m_privateRedis; }

    // What the Redis panels watch.
    void watch(const QString &region, const QString &client = QStringLiteral("127.0.0.1"));
    // Reads Redis now, after something changed it.
    void refreshSnapshot();
    // Pauses every Redis client for a while (CLIENT PAUSE), to show an outage.
    void pauseRedis(int milliseconds);
    // Changes the running service's computation time, TTL and limit (waits until applied).
    void applyLiveSettings(const LiveSettings &settings);
    // SIGHUP: hands the re-read options to the service (see Service::reload()); returns once it
    // has them.
    void reload(const std::optional<ServiceOptions> &reread, const QString &problem);
    // "Compare algorithms" on the report route's limits (see AlgorithmComparison), unless one is
    // running already; returns the limits compared. Decisions arrive through comparisonStep().
    QList<RateLimit> compareAlgorithms();

Q_SIGNALS:
    void snapshotReady(const Cachedash::DashboardSnapshot &snapshot);
    void comparisonStep(const Cachedash::ComparisonStep &step);
    void comparisonFinished();
    // A SIGHUP reload changed the options.
    void settingsChanged();

private:
    ServiceOptions m_options;
    RequestFeed m_feed;
    QThread m_thread;
    ServiceWorker *m_worker = nullptr;
    QString m_baseUrl;
    QString m_redisUrl;
    bool m_privateRedis = false;
};

} // namespace Cachedash
