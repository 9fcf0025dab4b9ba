// SPDX-License-Identifier: GPL-3.0-or-later
#include "redisreply.h"

#include <QStringList>

#include <hiredis/hiredis.h>

namespace Cachedash {

namespace {
// Nesting deeper than this is refused instead of recursing on: no reply the service asks for nests
// more than two levels, and the limit keeps a hostile or broken server from exhausting the stack.
constexpr int MaxDepth = 64;

RedisReply convert(const redisReply *reply, int depth)
{
    if (!reply)
        return RedisReply::failure(RedisReply::Failure::ConnectionLost, QStringLiteral("connection lost"));
    switch (reply->type) {
    case REDIS_REPLY_STRING: return RedisReply::string(QByteArray(reply->str, qsizetype(reply->len)));
    case REDIS_REPLY_STATUS: return RedisReply::status(QByteArray(reply->str, qsizetype(reply->len)));
    case REDIS_REPLY_ERROR: return RedisReply::error(QByteArray(reply->str, qsizetype(reply->len)));
    case REDIS_REPLY_INTEGER: return RedisReply::integer(reply->integer);
    case REDIS_REPLY_NIL: return RedisReply::nil();
    case REDIS_REPLY_ARRAY: {
        if (depth >= MaxDepth)
            return RedisReply::error(QByteArrayLiteral("ERR reply nested too deeply"));
        std::vector<RedisReply> elements;
        elements.reserve(reply->elements);
        for (size_t i = 0; i < reply->elements; ++i)
            elements.push_back(convert(reply->element[i], depth + 1));
        return RedisReply::array(std::move(elements));
    }
    default:
        return RedisReply::error(
            QByteArrayLiteral("ERR unknown reply type ") + QByteArray::number(reply->type));
    }
}
} // namespace

RedisReply RedisReply::integer(qint64 value)
{
    RedisReply r;
    r.m_type = Type::Integer;
    r.m_integer = value;
    return r;
}

RedisReply RedisReply::string(QByteArray bytes)
{
    RedisReply r;
    r.m_type = Type::String;
    r.m_bytes = std::move(bytes);
    return r;
}

RedisReply RedisReply::status(QByteArray text)
{
    RedisReply r;
    r.m_type = Type::Status;
    r.m_bytes = std::move(text);
    return r;
}

RedisReply RedisReply::array(std::vector<RedisReply> elements)
{
    RedisReply r;
    r.m_type = Type::Array;
    r.m_elements = std::move(elements);
    return r;
}

RedisReply RedisReply::error(QByteArray message)
{
    RedisReply r;
    r.m_type = Type::Error;
    r.m_bytes = std::move(message);
    return r;
}

RedisReply RedisReply::failure(Failure why, QString message)
{
    RedisReply r;
    r.m_type = Type::Failure;
    r.m_failure = why;
    r.m_bytes = message.isEmpty() ? QByteArray(failureName(why)) : message.toUtf8();
    return r;
}

RedisReply RedisReply::fromHiredis(const redisReply *reply)
{
    return convert(reply, 0);
}

QString RedisReply::errorText() const
{
    switch (m_type) {
    case Type::Error: return QString::fromUtf8(m_bytes);
    case Type::Failure: return QString::fromUtf8(m_bytes);
    default: return {};
    }
}

QString RedisReply::toDebugString() const
{
    switch (m_type) {
    case Type::Nil: return QStringLiteral("(nil)");
    case Type::Integer: return QStringLiteral("(integer) %1").arg(m_integer);
    case Type::String: return u'"' + QString::fromUtf8(m_bytes) + u'"';
    case Type::Status: return QString::fromUtf8(m_bytes);
    case Type::Error: return QStringLiteral("(error) ") + QString::fromUtf8(m_bytes);
    case Type::Failure: return QStringLiteral("(failure) ") + QString::fromUtf8(m_bytes);
    case Type::Array: {
        QStringList parts;
        for (const RedisReply &e : m_elements)
            parts << e.toDebugString();
        return u'[' + parts.join(QStringLiteral(", ")) + u']';
    }
    }
    return {};
}

const char *failureName(RedisReply::Failure failure)
{
    switch (failure) {
    case RedisReply::Failure::None: return "no failure";
    case RedisReply::Failure::NotConnected: return "not connected to Redis";
    case RedisReply::Failure::ConnectionLost: return "connection to Redis lost";
    case RedisReply::Failure::Timeout: return "Redis command timed out";
    case RedisReply::Failure::Closed: return "Redis client closed";
    }
    return "unknown failure";
}

} // namespace Cachedash
