// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QMetaType>
#include <QString>

#include <vector>

struct redisReply;

namespace Cachedash {

// An owned copy of one Redis reply, or the reason there is none (a client-side failure).
// Server errors (Type::Error) and client failures (Type::Failure) are values, never exceptions:
// a nil is an ordinary reply, not an error.
class RedisReply
{
public:
    enum class Type {
        Nil,
        Integer,
        String, // bulk string
        Status, // +OK and friends
        Array,
        Error, // an error reply sent by the server, such as NOSCRIPT or WRONGTYPE
        Failure, // no reply: see failure()
    };

    // Why a command produced no reply.
    enum class Failure {
        None,
        NotConnected, // issued while no connection was up; it was never sent
        ConnectionLost, // the connection dropped (or could not be made) before the reply came
        Timeout, // no reply within the command timeout; a late reply is dropped
        Closed, // the client was closed or destroyed
    };

    RedisReply() = default;

    static RedisReply nil() { return RedisReply(); }
    static RedisReply integer(qint64 value);
    static RedisReply string(QByteArray bytes);
    static RedisReply status(QByteArray text);
    static RedisReply array(std::vector<RedisReply> elements);
    static RedisReply error(QByteArray message);
    static RedisReply failure(Failure why, QString message = {});

    // Copies a hiredis reply, recursively. A null pointer is a lost connection.
    static RedisReply fromHiredis(const redisReply *reply);

    Type type() const { return m_type; }
    bool isNil() const { return m_type == Type::Nil; }
    bool isInteger() const { return m_type == Type::Integer; }
    bool isString() const { return m_type == Type::String; }
    bool isStatus() const { return m_type == Type::Status; }
    bool isArray() const { return m_type == Type::Array; }
    bool isError() const { return m_type == Type::Error; }
    bool isFailure() const { return m_type == Type::Failure; }
    // Neither a server error nor a client failure.
    bool isOk() const { return m_type != Type::Error && m_type != Type::Failure; }

    qint64 toInteger() const { return m_integer; }
    // The bytes of a bulk string, status or server error; empty for other types.
    const QByteArray &bytes() const { return m_bytes; }
    const std::vector<RedisReply> &elements() const { return m_elements; }
    Failure failureKind() const { return m_failure; }

    // A one-line description of an error or failure, for logs and error bodies.
    QString errorText() const;

    // For tests and logs: a redis-cli-like rendering, e.g. (integer) 1, "abc", (nil).
    QString toDebugString() const;

    friend bool operator==(const RedisReply &, const RedisReply &) = default;

private:
    Type m_type = Type::Nil;
    Failure m_failure = Failure::None;
    qint64 m_integer = 0;
    QByteArray m_bytes;
    std::vector<RedisReply> m_elements;
};

const char *failureName(RedisReply::Failure failure);

} // namespace Cachedash

Q_DECLARE_METATYPE(Cachedash::RedisReply)
