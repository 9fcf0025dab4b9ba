// SPDX-License-Identifier: GPL-3.0-or-later
#include "region.h"

#include <QList>
#include <QStringDecoder>

namespace Cachedash {

const char RegionRule[] = "a region is 1 to 64 letters, digits, '-', '_' or '.'";

std::optional<QString> validateRegion(const QByteArray &utf8, QString *why)
{
    auto refuse = [why](const QString &reason) -> std::optional<QString> {
        if (why)
            *why = reason + QStringLiteral("; ") + QLatin1String(RegionRule);
        return std::nullopt;
    };
    if (utf8.isEmpty())
        return refuse(QStringLiteral("the region is empty"));
    // 64 code points take at most 256 bytes of UTF-8: refuse longer input before decoding it.
    if (utf8.size() > MaxRegionLength * 4)
        return refuse(QStringLiteral("the region is longer than %1 characters").arg(MaxRegionLength));
    // ConvertInitialBom: a leading U+FEFF is a character like any other (and refused), not dropped.
    QStringDecoder decoder(
        QStringDecoder::Utf8, QStringDecoder::Flag::Stateless | QStringDecoder::Flag::ConvertInitialBom);
    const QString region = decoder(utf8);
    if (decoder.hasError())
        return refuse(QStringLiteral("the region is not valid UTF-8"));
    qsizetype codePoints = 0;
    for (char32_t c : region.toUcs4()) {
        ++codePoints;
        const bool ok = QChar::isLetter(c) || QChar::isDigit(c) || c == U'-' || c == U'_' || c == U'.';
        if (!ok) {
            // Invisible characters are named by code point, the rest shown as they are.
            const QChar::Category category = QChar::category(c);
            const bool invisible = !QChar::isPrint(c) || QChar::isSpace(c)
                || category == QChar::Mark_NonSpacing || category == QChar::Mark_SpacingCombining
                || category == QChar::Mark_Enclosing;
            const QString shown = invisible ? QString(QStringLiteral("U+")
                                      + QString::number(uint(c), 16).toUpper().rightJustified(4, u'0'))
                                            : QString(u'\'' + QString::fromUcs4(&c, 1) + u'\'');
            return refuse(QStringLiteral("the region contains %1").arg(shown));
        }
    }
    if (codePoints > MaxRegionLength)
        return refuse(QStringLiteral("the region is longer than %1 characters").arg(MaxRegionLength));
    return region;
}

} // namespace Cachedash
