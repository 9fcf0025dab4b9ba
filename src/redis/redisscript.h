// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QString>

namespace Cachedash {

// A Lua script and its SHA1, for EVALSHA. RedisClient::evalScript() reloads it on NOSCRIPT.
class RedisScript
{
public:
    RedisScript() = default;
    explicit RedisScript(QByteArray source);

    // Loads a script from a file or a Qt resource (":/lua/name.lua"). A missing file gives a null script.
    static RedisScript fromFile(const QString &path);

    bool isNull() const { return m_source.isEmpty(); }
    const QByteArray &source() const { return m_source; }
    // Lower-case hex, as SCRIPT LOAD returns it.
    const QByteArray &sha1() const { return m_sha1; }

private:
    QByteArray m_source;
    QByteArray m_sha1;
};

} // namespace Cachedash
