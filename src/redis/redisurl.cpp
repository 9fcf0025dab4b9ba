// SPDX-License-Identifier: GPL-3.0-or-later
#include "redisurl.h"

#include <QUrl>

namespace Cachedash {

namespace {

constexpr int MaxDatabase = 1 << 20; // far above any real server's "databases" setting

std::optional<int> parseDatabase(QStringView text, QString *error)
{
    bool ok = false;
    const int db = text.toInt(&ok);
    if (!ok || db < 0 || db > MaxDatabase || text.startsWith(u'+')) {
        if (error)
            *error = QStringLiteral("the database must be a whole number from 0 to %1").arg(MaxDatabase);
        return std::nullopt;
    }
    return db;
}

bool fail(QString *error, const QString &message)
{
    if (error)
        *error = message;
    return false;
}

// Text of the URL quoted in an error: at most max characters, anything invisible (a line break, a
// control character) as '?', so that the error stays one line.
QString quoted(QStringView text, qsizetype max)
{
    QString shown = text.left(max).toString();
    for (QChar &c : shown) {
        if (!c.isPrint() || c == QChar::LineSeparator || c == QChar::ParagraphSeparator)
            c = u'?';
    }
    return shown;
}

QString decoded(QStringView text)
{
    return QUrl::fromPercentEncoding(text.toUtf8());
}

bool parseUnix(QStringView rest, RedisUrl &out, QString *error)
{
    // rest is what follows "unix://": "/path/to/sock[?db=N]".
    out.transport = RedisUrl::Transport::Unix;
    out.host.clear();
    out.port = 0;
    const qsizetype query = rest.indexOf(u'?');
    const QStringView path = query < 0 ? rest : rest.left(query);
    if (path.isEmpty() || !path.startsWith(u'/'))
        return fail(
            error, QStringLiteral("a unix URL needs an absolute socket path: unix:///path/to/redis.sock"));
    out.socketPath = decoded(path);
    if (query < 0)
        return true;
    for (QStringView item : rest.mid(query + 1).split(u'&')) {
        const qsizetype eq = item.indexOf(u'=');
        const QStringView name = eq < 0 ? item : item.left(eq);
        if (name != u"db")
            return fail(error,
                QStringLiteral("unknown query parameter \"%1\" (only db=N is understood)")
                    .arg(quoted(name, 32)));
        const auto db = parseDatabase(eq < 0 ? QStringView() : item.mid(eq + 1), error);
        if (!db)
            return false;
        out.database = *db;
    }
    return true;
}

// "host[:port]" or "[v6]:port" into *address; the port stays as given when absent.
bool parseAddress(QStringView hostPort, RedisUrl::Address &address, QString *error)
{
    QStringView host;
    QStringView port;
    if (hostPort.startsWith(u'[')) {
        const qsizetype close = hostPort.indexOf(u']');
        if (close < 0)
            return fail(error, QStringLiteral("an IPv6 host must be closed with ']'"));
        host = hostPort.mid(1, close - 1);
        const QStringView after = hostPort.mid(close + 1);
        if (!after.isEmpty()) {
            if (!after.startsWith(u':'))
                return fail(error, QStringLiteral("unexpected text after the IPv6 host"));
            port = after.mid(1);
            if (port.isEmpty())
                return fail(error, QStringLiteral("the port after ':' is missing"));
        }
    } else {
        const qsizetype colon = hostPort.lastIndexOf(u':');
        host = colon < 0 ? hostPort : hostPort.left(colon);
        if (colon >= 0) {
            port = hostPort.mid(colon + 1);
            if (port.isEmpty())
                return fail(error, QStringLiteral("the port after ':' is missing"));
        }
    }
    if (host.isEmpty())
        return fail(error, QStringLiteral("a host is missing: redis://host[:port][/db]"));
    for (QChar c : host) {
        if (!(c.isLetterOrNumber() || c == u'.' || c == u'-' || c == u'_' || c == u':'))
            return fail(error, QStringLiteral("the host contains a character that is not allowed"));
    }
    address.host = host.toString();
    if (!port.isEmpty()) {
        bool ok = false;
        const uint value = port.toUInt(&ok);
        if (!ok || value < 1 || value > 65535 || port.startsWith(u'+'))
            return fail(error, QStringLiteral("the port must be a number from 1 to 65535"));
        address.port = quint16(value);
    }
    return true;
}

bool parseTcp(QStringView rest, RedisUrl &out, QString *error)
{
    // rest is what follows "redis://": "[[user]:password@]host[:port][,host[:port]...][/db]",
    // or for sentinel, "...@]host[:port][,...]/name[/db]".
    if (rest.contains(u'?') || rest.contains(u'#'))
        return fail(error,
            QStringLiteral("a redis URL takes no query or fragment; put the database in the path: "
                           "redis://host:6379/2"));
    const qsizetype slash = rest.indexOf(u'/');
    const QStringView authority = slash < 0 ? rest : rest.left(slash);
    QStringView path = slash < 0 ? QStringView() : rest.mid(slash + 1);

    QStringView hosts = authority;
    const qsizetype at = authority.lastIndexOf(u'@');
    if (at >= 0) {
        const QStringView userInfo = authority.left(at);
        hosts = authority.mid(at + 1);
        const qsizetype colon = userInfo.indexOf(u':');
        if (colon < 0)
            return fail(error, QStringLiteral("credentials must be written user:password@ or :password@"));
        out.username = decoded(userInfo.left(colon));
        out.password = decoded(userInfo.mid(colon + 1));
        if (out.password.isEmpty())
            return fail(error, QStringLiteral("the password in the URL is empty"));
    }

    const quint16 defaultPort = out.sentinel ? 26379 : 6379;
    const QList<QStringView> parts = hosts.split(u',');
    if (parts.size() > 64)
        return fail(error, QStringLiteral("at most 64 hosts may be given"));
    for (qsizetype i = 0; i < parts.size(); ++i) {
        RedisUrl::Address address{QString(), defaultPort};
        if (!parseAddress(parts[i], address, error))
            return false;
        if (i == 0) {
            out.host = address.host;
            out.port = address.port;
        } else {
            out.moreHosts.append(address);
        }
    }

    if (out.sentinel) {
        const qsizetype next = path.indexOf(u'/');
        const QStringView name = next < 0 ? path : path.left(next);
        if (name.isEmpty())
            return fail(error,
                QStringLiteral("a sentinel URL names its master: redis+sentinel://host:26379/MASTER_NAME"));
        out.masterName = decoded(name);
        // It goes into log lines: one printable word, also once percent-decoded.
        for (QChar c : std::as_const(out.masterName)) {
            if (!c.isPrint() || c.isSpace())
                return fail(
                    error, QStringLiteral("the master name contains a character that is not allowed"));
        }
        path = next < 0 ? QStringView() : path.mid(next + 1);
    }
    if (!path.isEmpty()) {
        const auto db = parseDatabase(path, error);
        if (!db)
            return false;
        out.database = *db;
    }
    return true;
}

} // namespace

std::optional<RedisUrl> RedisUrl::parse(const QString &url, QString *error)
{
    const QString text = url.trimmed();
    const qsizetype sep = text.indexOf(QLatin1String("://"));
    if (sep <= 0) {
        if (error)
            *error = QStringLiteral("not a URL; expected redis://host:port or unix:///path/to/redis.sock");
        return std::nullopt;
    }
    const QString scheme = text.left(sep).toLower();
    const QStringView rest = QStringView(text).mid(sep + 3);

    RedisUrl out;
    bool ok = false;
    if (scheme == u"redis" || scheme == u"rediss") {
        out.tls = scheme == u"rediss";
        ok = parseTcp(rest, out, error);
    } else if (scheme == u"redis+sentinel" || scheme == u"rediss+sentinel") {
        out.tls = scheme == u"rediss+sentinel";
        out.sentinel = true;
        ok = parseTcp(rest, out, error);
    } else if (scheme == u"unix") {
        ok = parseUnix(rest, out, error);
    } else {
        ok = fail(error,
            QStringLiteral("unsupported scheme \"%1\"; use redis://, rediss:// (TLS), "
                           "redis+sentinel://, rediss+sentinel:// or unix://")
                .arg(quoted(scheme, 16)));
    }
    if (!ok)
        return std::nullopt;
    return out;
}

QString RedisUrl::Address::toString() const
{
    const QString h = host.contains(u':') ? u'[' + host + u']' : host;
    return QStringLiteral("%1:%2").arg(h).arg(port);
}

QList<RedisUrl::Address> RedisUrl::addresses() const
{
    if (transport == Transport::Unix)
        return {};
    return QList<Address>{Address{host, port}} + moreHosts;
}

RedisUrl RedisUrl::withAddress(const Address &address) const
{
    RedisUrl one = *this;
    one.transport = Transport::Tcp;
    one.host = address.host;
    one.port = address.port;
    one.moreHosts.clear();
    one.sentinel = false;
    one.masterName.clear();
    return one;
}

QString RedisUrl::toDisplayString() const
{
    if (transport == Transport::Unix) {
        QString s = QStringLiteral("unix://") + socketPath;
        if (database != 0)
            s += QStringLiteral("?db=%1").arg(database);
        return s;
    }
    QStringList hosts;
    for (const Address &address : addresses())
        hosts.append(address.toString());
    QString s = QStringLiteral("redis") + (tls ? QStringLiteral("s") : QString())
        + (sentinel ? QStringLiteral("+sentinel://") : QStringLiteral("://")) + hosts.join(u',');
    if (sentinel)
        s += u'/' + QString::fromLatin1(QUrl::toPercentEncoding(masterName));
    if (database != 0)
        s += QStringLiteral("/%1").arg(database);
    return s;
}

} // namespace Cachedash
