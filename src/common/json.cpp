// SPDX-License-Identifier: GPL-3.0-or-later
#include "json.h"

#include <QLocale>

#include <cmath>
#include <cstdio>

namespace Cachedash {

QByteArray jsonNumber(double value)
{
    if (!std::isfinite(value))
        return QByteArrayLiteral("null");
    return QByteArray::number(value, 'g', QLocale::FloatingPointShortest);
}

QByteArray jsonString(QStringView text)
{
    // Runs of characters that need no escape are converted whole, so that a surrogate pair (a
    // character outside the Basic Multilingual Plane) stays one character.
    QByteArray out;
    out.reserve(text.size() + 2);
    out += '"';
    qsizetype run = 0;
    auto flush = [&](qsizetype end) {
        if (end > run)
            out += text.sliced(run, end - run).toUtf8();
    };
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char16_t u = text[i].unicode();
        if (u >= 0x20 && u != u'"' && u != u'\\')
            continue;
        flush(i);
        run = i + 1;
        switch (u) {
        case u'"': out += "\\\""; break;
        case u'\\': out += "\\\\"; break;
        case u'\n': out += "\\n"; break;
        case u'\r': out += "\\r"; break;
        case u'\t': out += "\\t"; break;
        default: {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", unsigned(u));
            out += escaped;
        }
        }
    }
    flush(text.size());
    out += '"';
    return out;
}

} // namespace Cachedash
