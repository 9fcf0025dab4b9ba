// SPDX-License-Identifier: GPL-3.0-or-later
#include "sleeper.h"

#include <QTimer>

namespace Cachedash {

Sleeper::Wait::Wait(Sleeper *sleeper, std::chrono::milliseconds duration)
    : m_sleeper(sleeper)
    , m_duration(duration)
    , m_state(std::make_shared<SleepState>())
{ }

bool Sleeper::Wait::await_ready() const noexcept
{
    // Cancelled before it was awaited: it ends at once, as cancelled.
    return m_sleeper->m_cancelled;
}

void Sleeper::Wait::await_suspend(std::coroutine_handle<> waiter)
{
    SleepState *state = m_state.get();
    Sleeper *sleeper = m_sleeper;
    state->elapsed.addWaiter(waiter);
    state->timer = new QTimer(sleeper);
    state->timer->setSingleShot(true);
    state->timer->setTimerType(Qt::PreciseTimer);
    // The state lives as long as the awaiter, which lives until the coroutine resumes.
    QObject::connect(
        state->timer, &QTimer::timeout, sleeper, [sleeper, state] { sleeper->finish(state, true); });
    state->position = sleeper->m_waiting.insert(sleeper->m_waiting.end(), state);
    state->timer->start(m_duration);
}

void Sleeper::finish(SleepState *state, bool elapsed)
{
    m_waiting.erase(state->position);
    state->timer->stop();
    state->timer->deleteLater(); // we may be inside its timeout signal
    // Resuming may destroy the state: touch nothing after it.
    state->elapsed.complete(elapsed);
}

Sleeper::Sleeper(QObject *parent)
    : QObject(parent)
{ }

Sleeper::~Sleeper()
{
    cancelAll();
}

void Sleeper::cancelAll()
{
    m_cancelled = true;
    while (!m_waiting.empty())
        finish(m_waiting.front(), false);
}

} // namespace Cachedash
