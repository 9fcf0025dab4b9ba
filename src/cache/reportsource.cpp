// SPDX-License-Identifier: GPL-3.0-or-later
#include "reportsource.h"

#include <QElapsedTimer>
#include <QTimer>

using namespace std::chrono;

namespace Cachedash {

// Awaits the source's delay on a precise timer (a coarse one fires up to ~2 % early). Resumes with
// true when the time is up, false when the source shuts down first.
class ReportSource::Delay
{
public:
    Delay(ReportSource *source, milliseconds duration)
        : m_source(source)
        , m_duration(duration)
    { }

    bool await_ready() const noexcept { return m_source->m_shutDown; }

    void await_suspend(std::coroutine_handle<> waiter)
    {
        m_waiter = waiter;
        m_timer = new QTimer(m_source);
        m_timer->setSingleShot(true);
        m_timer->setTimerType(Qt::PreciseTimer);
        QObject::connect(m_timer, &QTimer::timeout, m_source, [this] { finish(true); });
        m_position = m_source->m_waiting.insert(m_source->m_waiting.end(), this);
        m_timer->start(m_duration);
    }

    bool await_resume() const noexcept { return m_elapsed; }

    void finish(bool elapsed)
    {
        m_elapsed = elapsed;
        m_source->m_waiting.erase(m_position);
        m_timer->stop();
        m_timer->deleteLater(); // we may be inside its timeout signal
        // Resuming may destroy this awaiter: touch nothing after it.
        std::exchange(m_waiter, {}).resume();
    }

private:
    ReportSource *m_source;
    milliseconds m_duration;
    std::coroutine_handle<> m_waiter;
    QTimer *m_timer = nullptr;
    std::list<Delay *>::iterator m_position;
    bool m_elapsed = false;
};

ReportSource::ReportSource(milliseconds delay, QObject *parent)
    : QObject(parent)
    , m_delay(delay)
{ }

ReportSource::~ReportSource()
{
    shutdown();
}

void ReportSource::setDelay(milliseconds delay)
{
    m_delay = std::max(delay, milliseconds::zero());
}

void ReportSource::shutdown()
{
    m_shutDown = true;
    while (!m_waiting.empty())
        m_waiting.front()->finish(false);
}

QCoro::Task<std::optional<Report>> ReportSource::compute(QString region)
{
    if (m_shutDown)
        co_return std::nullopt;
    ++m_computations;
    QElapsedTimer timer;
    timer.start();
    Q_EMIT computationStarted(region);
    Delay delay(this, m_delay);
    const bool elapsed = co_await delay;
    const milliseconds took(timer.elapsed());
    Q_EMIT computationFinished(region, took);
    if (!elapsed)
        co_return std::nullopt;
    co_return Report::compute(region, QDateTime::currentDateTimeUtc());
}

} // namespace Cachedash
