// SPDX-License-Identifier: GPL-3.0-or-later
#include "redisscript.h"

#include <QCryptographicHash>
#include <QFile>

namespace Cachedash {

RedisScript::RedisScript(QByteArray source)
    : m_source(std::move(source))
    , m_sha1(QCryptographicHash::hash(m_source, QCryptographicHash::Sha1).toHex())
{ }

RedisScript RedisScript::fromFile(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return RedisScript(file.readAll());
}

} // namespace Cachedash
