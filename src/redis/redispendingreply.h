// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "redisreply.h"

#include "common/completion.h"

#include <QExplicitlySharedDataPointer>
#include <QSharedData>

#include <chrono>
#include <coroutine>
#include <utility>

namespace Cachedash {

namespace detail {

// One command in flight. Shared by the client's timeout queue, hiredis (which holds one reference
// as the callback's privdata until its callback runs) and the awaiter.
struct PendingCommand : QSharedData
{
    enum class Role { User, Handshake };

    // The reply or failure. Completes once; later calls (a reply after a timeout) are ignored.
    // Resumes the waiter, if any, before returning.
    Completion<RedisReply> reply;
    std::chrono::steady_clock::time_point issued;
    std::chrono::steady_clock::time_point deadline;
    Role role = Role::User;

    bool isDone() const { return reply.isDone(); }
    void complete(RedisReply value) { reply.complete(std::move(value)); }
};

} // namespace detail

// The awaitable result of RedisClient::command(). The command is sent when it is issued, not when
// it is awaited: issue several, then await them, and they travel in one write (pipelining).
// co_await yields the RedisReply; await it at most once.
class RedisPendingReply
{
public:
    explicit RedisPendingReply(QExplicitlySharedDataPointer<detail::PendingCommand> command)
        : m_command(std::move(command))
    { }

    bool isFinished() const { return m_command->isDone(); }

    bool await_ready() const noexcept { return m_command->isDone(); }
    void await_suspend(std::coroutine_handle<> waiter) { m_command->reply.addWaiter(waiter); }
    // The one waiter takes the reply.
    RedisReply await_resume() { return std::move(m_command->reply.result()); }

private:
    QExplicitlySharedDataPointer<detail::PendingCommand> m_command;
};

} // namespace Cachedash
