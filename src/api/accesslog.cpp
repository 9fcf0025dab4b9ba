// SPDX-License-Identifier: GPL-3.0-or-later
#include "accesslog.h"

namespace Cachedash {

QString displayPath(const QByteArray &rawPath)
{
    QString path = QString::fromUtf8(QByteArray::fromPercentEncoding(rawPath.left(512)));
    if (rawPath.size() > 512)
        path += QStringLiteral("...");
    return path;
}

QString accessLogLine(const RequestRecord &record)
{
    // One pass over the pattern: a path may contain "%4" itself.
    const QByteArray outcome = outcomeName(record.outcome);
    QString line = QStringLiteral("%1 %2 %3 %4 %5 %6ms")
                       .arg(record.client, QString::fromLatin1(record.method), record.path,
                           QString::number(record.status),
                           outcome.isEmpty() ? QStringLiteral("-") : QString::fromLatin1(outcome),
                           QString::number(record.latencyMs, 'f', 1));
    if (record.retryAfterSeconds)
        line += QStringLiteral(" Retry-After=%1").arg(record.retryAfterSeconds);
    return line;
}

} // namespace Cachedash
