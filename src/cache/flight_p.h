// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "common/completion.h"

#include <memory>

namespace Cachedash::detail {

// One computation that several coroutines wait for (single-flight). The leader calls finish();
// every waiter, present or later, gets a copy of the result.
template<typename T>
class Flight
{
public:
    // Joins the flight; the awaiter keeps it alive.
    class Awaiter : public CompletionAwaiter<std::shared_ptr<Flight>, T>
    {
    public:
        explicit Awaiter(std::shared_ptr<Flight> flight)
            : CompletionAwaiter<std::shared_ptr<Flight>, T>(flight, flight->m_result)
        { }
    };

    void finish(T result) { m_result.complete(std::move(result)); }

private:
    Completion<T> m_result;
};

} // namespace Cachedash::detail
