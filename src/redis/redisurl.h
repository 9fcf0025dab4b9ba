// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QString>

#include <optional>

namespace Cachedash {

// Where and how to reach a Redis server, parsed from
// redis://[[user]:password@]host[:port][/db] or unix:///path/to/redis.sock[?db=N].
struct RedisUrl
{
    enum class Transport { Tcp, Unix };

    Transport transport = Transport::Tcp;
    QString host = QStringLiteral("127.0.0.1");
    quint16 port = 6379;
    QString socketPath;
    QString username; // empty: the default user (AUTH with the password alone)
    QString password; // empty: no AUTH
    int database = 0;

    // Parses a URL. On failure returns nothing and sets *error to a sentence that says what is wrong
    // without repeating the URL (which may hold a password).
    static std::optional<RedisUrl> parse(const QString &url, QString *error = nullptr);

    bool hasCredentials() const { return !password.isEmpty() || !username.isEmpty(); }

    // The URL without credentials, safe to log or show: redis://host:port/db or unix:///path?db=N.
    QString toDisplayString() const;

    friend bool operator==(const RedisUrl &, const RedisUrl &) = default;
};

} // namespace Cachedash
