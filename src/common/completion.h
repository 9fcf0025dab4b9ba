// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QtGlobal>

#include <coroutine>
#include <optional>
#include <utility>
#include <vector>

namespace Cachedash::detail {

// A result that one side stores once and any number of coroutines wait for: the mechanism under
// a command's reply, a single-flight computation, a batch of limiter checks and a timed wait.
//
// Whoever owns it keeps it alive until every waiter has resumed (awaiters hold a shared pointer
// to the owner). A lone waiter costs no allocation.
template<typename T>
class Completion
{
public:
    bool isDone() const noexcept { return m_result.has_value(); }
    // The stored result, once done.
    T &result() noexcept
    {
        Q_ASSERT(isDone());
        return *m_result;
    }
    const T &result() const noexcept
    {
        Q_ASSERT(isDone());
        return *m_result;
    }

    // For an awaiter's await_suspend(): resumed by complete().
    void addWaiter(std::coroutine_handle<> waiter)
    {
        if (!m_first)
            m_first = waiter;
        else
            m_more.push_back(waiter);
    }

    // Stores the result and resumes every waiter, in the order they came, before returning.
    // Only the first call counts (a reply after its timeout, say): later ones return false.
    bool complete(T value)
    {
        if (isDone())
            return false;
        m_result.emplace(std::move(value));
        // A resumed waiter may start new work, or drop the last reference to this one's owner:
        // take the list first, and touch nothing of this object afterwards.
        const std::coroutine_handle<> first = std::exchange(m_first, {});
        std::vector<std::coroutine_handle<>> more = std::exchange(m_more, {});
        if (first)
            first.resume();
        for (std::coroutine_handle<> waiter : more)
            waiter.resume();
        return true;
    }

private:
    std::optional<T> m_result;
    std::coroutine_handle<> m_first;
    std::vector<std::coroutine_handle<>> m_more;
};

// The awaiter of a Completion that `owner` (a shared pointer) keeps alive: co_await yields the
// stored result, which every waiter shares (copy it to change it). A class with a constructor, not
// an aggregate: g++ 12 destroys a brace-built awaiter inside co_await twice.
template<typename Owner, typename T>
class CompletionAwaiter
{
public:
    CompletionAwaiter(Owner owner, Completion<T> &completion)
        : m_owner(std::move(owner))
        , m_completion(&completion)
    { }

    bool await_ready() const noexcept { return m_completion->isDone(); }
    void await_suspend(std::coroutine_handle<> waiter) { m_completion->addWaiter(waiter); }
    T &await_resume() const noexcept { return m_completion->result(); }

private:
    Owner m_owner;
    Completion<T> *m_completion;
};

} // namespace Cachedash::detail
