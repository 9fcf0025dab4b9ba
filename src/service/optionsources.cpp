// SPDX-License-Identifier: GPL-3.0-or-later
#include "optionsources_p.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSettings>
#include <QTemporaryFile>

namespace Cachedash::detail {

std::optional<QVariantMap> readConfigFile(const QString &path, const QStringList &known, QString *error)
{
    const QFileInfo info(path);
    if (!info.isFile() || !info.isReadable()) {
        *error = QStringLiteral("%1 is not a readable file").arg(path.left(200));
        return std::nullopt;
    }
    // QSettings keeps the contents of a file it read, and reads it again only when its size or
    // time changed: a reload of a file rewritten within the same millisecond, or copied with its
    // time kept, would get the old values. A private copy, under a name of its own, is read afresh.
    QFile source(path);
    QTemporaryFile copy(QDir::tempPath() + QStringLiteral("/cachedash-config-XXXXXX.ini"));
    if (!source.open(QIODevice::ReadOnly) || !copy.open() || copy.write(source.readAll()) < 0
        || !copy.flush()) {
        *error = QStringLiteral("%1 cannot be read: %2").arg(path.left(200), source.errorString());
        return std::nullopt;
    }
    QSettings ini(copy.fileName(), QSettings::IniFormat);
    if (ini.status() != QSettings::NoError) {
        *error = QStringLiteral("%1 is not an INI file (name = value lines)").arg(path.left(200));
        return std::nullopt;
    }
    QVariantMap values;
    for (const QString &key : ini.allKeys()) {
        // The file cannot choose whether there is a window: that is decided before it is read.
        if (key == u"headless") {
            *error = QStringLiteral("%1: headless is chosen on the command line (--headless) or by "
                                    "CACHEDASH_HEADLESS, not in the config file")
                         .arg(path.left(200));
            return std::nullopt;
        }
        if (!known.contains(key) || key == u"config") {
            *error = QStringLiteral("%1: \"%2\" is not an option (the keys are the options' names, "
                                    "such as rate-limit or cache-ttl, outside any [section])")
                         .arg(path.left(200), key.left(60));
            return std::nullopt;
        }
        values.insert(key, ini.value(key));
    }
    return values;
}


} // namespace Cachedash::detail
