// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "common/completion.h"

#include <QObject>

#include <chrono>
#include <coroutine>
#include <list>
#include <memory>

class QTimer;

namespace Cachedash {

// One pending wait; see Sleeper.
struct SleepState
{
    detail::Completion<bool> elapsed; // true: the time passed; false: cancelled
    QTimer *timer = nullptr;
    std::list<SleepState *>::iterator position;
};

// Timed waits for coroutines that can all be ended at once, so that nothing stays suspended on a
// timer when the service shuts down:
//
//     Sleeper::Wait wait = sleeper.sleep(1500ms);
//     const bool elapsed = co_await wait; // false: cancelled
//
// Precise timers: a coarse one fires up to ~2 % early.
class Sleeper : public QObject
{
    Q_OBJECT

public:
    // The awaiter. Copies share one wait (g++ 12 copies awaiters it should not), so a copy is harmless.
    class Wait
    {
    public:
        Wait(Sleeper *sleeper, std::chrono::milliseconds duration);

        bool await_ready() const noexcept;
        void await_suspend(std::coroutine_handle<> waiter);
        bool await_resume() const noexcept { return m_state->elapsed.isDone() && m_state->elapsed.result(); }

    private:
        Sleeper *m_sleeper;
        std::chrono::milliseconds m_duration;
        std::shared_ptr<SleepState> m_state;
    };

    explicit Sleeper(QObject *parent = nullptr);
    ~Sleeper() override;

    Wait sleep(std::chrono::milliseconds duration) { return Wait(this, duration); }
    int waiting() const { return int(m_waiting.size()); }
    // Resumes every wait with false, and makes later ones return false at once.
    void cancelAll();
    bool isCancelled() const { return m_cancelled; }

private:
    friend class Wait;
    void finish(SleepState *state, bool elapsed);

    std::list<SleepState *> m_waiting;
    bool m_cancelled = false;
};

} // namespace Cachedash
