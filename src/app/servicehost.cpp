// SPDX-License-Identifier: GPL-3.0-or-later
#include "servicehost.h"

#include "redisobserver.h"

#include "api/reportsapi.h"
#include "redis/redisrouter.h"
#include "service/service.h"

#include <QEventLoop>
#include <QTimer>

#include <qcoro/qcorotask.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace Cachedash {

namespace {
// Debian's Qt is not built with ThreadSanitizer, so TSan cannot see the ordering Qt guarantees when
// stop() hands the service's objects back to the window's thread: BlockingQueuedConnection waits on
// a futex-based QSemaphore, and QThread::wait() returns through a futex-based QMutex when the thread
// has already finished. These two calls state that ordering (everything the service thread did
// before handOver() happens before what the caller does after takeOver()); without TSan they are
// nothing. This is no lock: stop() is correct without them.
void handOver([[maybe_unused]] void *token)
{
#if defined(__SANITIZE_THREAD__)
    __tsan_release(token);
#endif
}

void takeOver([[maybe_unused]] void *token)
{
#if defined(__SANITIZE_THREAD__)
    __tsan_acquire(token);
#endif
}
} // namespace

// Lives on the service thread: creates, starts and stops the Service there.
class ServiceWorker : public QObject
{
    Q_OBJECT

public:
    ServiceWorker(ServiceOptions options, RequestFeed &feed)
        : m_options(std::move(options))
        , m_feed(feed)
    { }

    void begin() { run(); }

    void end()
    {
        // What the window changed on a Redis it shares goes back first, while the connection is up.
        if (m_observer)
            QCoro::waitFor(m_observer->restoreNotifications());
        if (m_service)
            m_service->shutdown();
        // Its pending checks have failed with the Redis connection: it can go before the service.
        m_comparison.reset();
        m_observer.reset();
        m_service.reset();
        handOver(this); // see ServiceHost::stop()
    }

    RedisObserver *observer() const { return m_observer.get(); }

    void compare(const QList<RateLimit> &limits)
    {
        if (!m_service || (m_comparison && m_comparison->isRunning()))
            return;
        m_comparison
            = std::make_unique<AlgorithmComparison>(m_service->redis(), limits, QStringLiteral("127.0.0.1"));
        connect(m_comparison.get(), &AlgorithmComparison::decided, this, &ServiceWorker::comparisonStep);
        connect(m_comparison.get(), &AlgorithmComparison::finished, this, &ServiceWorker::comparisonFinished);
        m_comparison->start();
    }
    Service *service() const { return m_service.get(); }

Q_SIGNALS:
    void started(
        bool ok, const QString &error, const QString &baseUrl, const QString &redisUrl, bool privateRedis);
    void snapshotReady(const Cachedash::DashboardSnapshot &snapshot);
    void comparisonStep(const Cachedash::ComparisonStep &step);
    void comparisonFinished();

private:
    QCoro::Task<> run()
    {
        m_service = std::make_unique<Service>(m_options);
        ReportsApi &api = m_service->api();
        RequestFeed *feed = &m_feed;
        connect(
            &api, &ReportsApi::requestStarted, this, [feed](const RequestRecord &r) { feed->started(r); });
        connect(
            &api, &ReportsApi::requestFinished, this, [feed](const RequestRecord &r) { feed->finished(r); });
        QCoro::Task<bool> starting = m_service->start();
        const bool ok = co_await starting;
        if (!ok) {
            Q_EMIT started(false, m_service->errorString(), QString(), QString(), false);
            co_return;
        }
        m_observer = std::make_unique<RedisObserver>(*m_service);
        connect(m_observer.get(), &RedisObserver::snapshotReady, this, &ServiceWorker::snapshotReady);
        Q_EMIT started(true, QString(), m_service->baseUrl(), m_service->redis().url().toDisplayString(),
            m_service->privateRedis() != nullptr);
    }

    ServiceOptions m_options;
    RequestFeed &m_feed;
    std::unique_ptr<Service> m_service;
    std::unique_ptr<RedisObserver> m_observer;
    std::unique_ptr<AlgorithmComparison> m_comparison;
};

ServiceHost::ServiceHost(ServiceOptions options, QObject *parent)
    : QObject(parent)
    , m_options(std::move(options))
{
    qRegisterMetaType<DashboardSnapshot>();
    m_thread.setObjectName(QStringLiteral("cachedash-service"));
}

ServiceHost::~ServiceHost()
{
    stop();
}

bool ServiceHost::start(QString *error)
{
    m_worker = new ServiceWorker(m_options, m_feed);
    m_worker->moveToThread(&m_thread);
    connect(m_worker, &ServiceWorker::snapshotReady, this, &ServiceHost::snapshotReady);
    connect(m_worker, &ServiceWorker::comparisonStep, this, &ServiceHost::comparisonStep);
    connect(m_worker, &ServiceWorker::comparisonFinished, this, &ServiceHost::comparisonFinished);
    m_thread.start();

    bool ok = false;
    QEventLoop loop;
    connect(m_worker, &ServiceWorker::started, &loop,
        [&](bool success, const QString &message, const QString &baseUrl, const QString &redisUrl,
            bool privateRedis) {
            ok = success;
            if (error)
                *error = message;
            m_baseUrl = baseUrl;
            m_redisUrl = redisUrl;
            m_privateRedis = privateRedis;
            loop.quit();
        });
    QMetaObject::invokeMethod(m_worker, &ServiceWorker::begin, Qt::QueuedConnection);
    loop.exec();
    if (!ok)
        stop();
    return ok;
}

void ServiceHost::stop()
{
    if (!m_worker)
        return;
    QMetaObject::invokeMethod(m_worker, &ServiceWorker::end, Qt::BlockingQueuedConnection);
    m_thread.quit();
    m_thread.wait();
    takeOver(m_worker); // from here on, this thread alone touches the worker and the feed
    delete std::exchange(m_worker, nullptr);
}

void ServiceHost::watch(const QString &region, const QString &client)
{
    if (!m_worker)
        return;
    QMetaObject::invokeMethod(m_worker, [worker = m_worker, region, client] {
        if (RedisObserver *observer = worker->observer()) {
            observer->setClient(client);
            observer->setRegion(region);
        }
    });
}

void ServiceHost::refreshSnapshot()
{
    if (!m_worker)
        return;
    QMetaObject::invokeMethod(m_worker, [worker = m_worker] {
        if (RedisObserver *observer = worker->observer())
            observer->pollSoon();
    });
}

void ServiceHost::pauseRedis(int milliseconds)
{
    if (!m_worker)
        return;
    QMetaObject::invokeMethod(m_worker, [worker = m_worker, milliseconds] {
        if (Service *service = worker->service())
            service->redis().command({QByteArrayLiteral("CLIENT"), QByteArrayLiteral("PAUSE"),
                QByteArray::number(milliseconds), QByteArrayLiteral("ALL")});
    });
}

void ServiceHost::reload(const std::optional<ServiceOptions> &reread, const QString &problem)
{
    if (!m_worker)
        return;
    bool applied = false;
    LiveSettings now;
    QMetaObject::invokeMethod(
        m_worker,
        [worker = m_worker, &reread, &problem, &applied, &now] {
            if (Service *service = worker->service()) {
                applied = service->reload(reread, problem);
                now = service->liveSettings();
            }
            if (RedisObserver *observer = worker->observer())
                observer->pollSoon();
        },
        Qt::BlockingQueuedConnection);
    if (applied) {
        m_options.apply(now);
        Q_EMIT settingsChanged();
    }
}

QList<RateLimit> ServiceHost::compareAlgorithms()
{
    const QList<RateLimit> limits = AlgorithmComparison::comparable(m_options.rateLimits.limits);
    if (m_worker)
        QMetaObject::invokeMethod(m_worker, [worker = m_worker, limits] { worker->compare(limits); });
    return limits;
}

void ServiceHost::applyLiveSettings(const LiveSettings &settings)
{
    m_options.apply(settings);
    if (!m_worker)
        return;
    QMetaObject::invokeMethod(
        m_worker,
        [worker = m_worker, settings] {
            if (Service *service = worker->service())
                service->applyLiveSettings(settings);
            if (RedisObserver *observer = worker->observer())
                observer->pollSoon();
        },
        Qt::BlockingQueuedConnection);
}

} // namespace Cachedash

#include "servicehost.moc"
