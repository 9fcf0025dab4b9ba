// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QList>
#include <QString>

#include <optional>

namespace Cachedash {

// Where and how to reach Redis, parsed from one of
//   redis://[[user]:password@]host[:port][,host:port...][/db]
//       one server, or any node of a Redis Cluster (more nodes after commas: tried in turn)
//   redis+sentinel://[[user]:password@]host[:port][,host:port...]/MASTER_NAME[/db]
//       the master a set of sentinels names (port 26379 unless given); the credentials are the
//       master's, the sentinels are asked without
//   rediss://... and rediss+sentinel://...
//       the same over TLS (to every node, to the sentinels and to the master they name)
//   unix:///path/to/redis.sock[?db=N]
struct RedisUrl
{
    enum class Transport { Tcp, Unix };

    struct Address
    {
        QString host;
        quint16 port = 0;
        // host:port, with an IPv6 host in brackets.
        QString toString() const;
        friend bool operator==(const Address &, const Address &) = default;
    };

    Transport transport = Transport::Tcp;
    // The first host; for sentinel://, the first sentinel.
    QString host = QStringLiteral("127.0.0.1");
    quint16 port = 6379;
    // The hosts given after the first, in order: more seed nodes, or more sentinels.
    QList<Address> moreHosts;
    bool sentinel = false; // redis+sentinel://
    bool tls = false; // rediss://, rediss+sentinel://
    QString masterName; // for sentinel://
    QString socketPath;
    QString username; // empty: the default user (AUTH with the password alone)
    QString password; // empty: no AUTH
    int database = 0;

    // Parses a URL. On failure returns nothing and sets *error to a sentence that says what is wrong
    // without repeating the URL (which may hold a password).
    static std::optional<RedisUrl> parse(const QString &url, QString *error = nullptr);

    bool hasCredentials() const { return !password.isEmpty() || !username.isEmpty(); }
    // Every host given, the first one first.
    QList<Address> addresses() const;
    // This URL with one host (the port and host replaced; no more hosts, not sentinel://): how
    // to reach one node with these credentials and database.
    RedisUrl withAddress(const Address &address) const;

    // The URL without credentials, safe to log or show: redis://host:port/db,
    // rediss://host:port, redis+sentinel://h1:p1,h2:p2/name or unix:///path?db=N.
    QString toDisplayString() const;

    friend bool operator==(const RedisUrl &, const RedisUrl &) = default;
};

} // namespace Cachedash
