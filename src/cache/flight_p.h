// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <coroutine>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace Cachedash::detail {

// One computation that several coroutines wait for (single-flight). The leader calls finish();
// every waiter, present or later, gets a copy of the result.
template<typename T>
class Flight
{
public:
    class Awaiter
    {
    public:
        explicit Awaiter(std::shared_ptr<Flight> flight)
            : m_flight(std::move(flight))
        { }
        bool await_ready() const noexcept { return m_flight->m_result.has_value(); }
        void await_suspend(std::coroutine_handle<> waiter) { m_flight->m_waiters.push_back(waiter); }
        T await_resume() const { return *m_flight->m_result; }

    private:
        std::shared_ptr<Flight> m_flight;
    };

    void finish(T result)
    {
        m_result = std::move(result);
        // A resumed waiter may start a new flight or finish this one's owner: work on a copy.
        const auto waiters = std::exchange(m_waiters, {});
        for (std::coroutine_handle<> waiter : waiters)
            waiter.resume();
    }

private:
    std::optional<T> m_result;
    std::vector<std::coroutine_handle<>> m_waiters;
};

} // namespace Cachedash::detail
