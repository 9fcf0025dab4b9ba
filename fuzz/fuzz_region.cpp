// SPDX-License-Identifier: GPL-3.0-or-later
// The region validator as the server calls it: a raw path segment, percent-decoded, then
// validateRegion(). The input is the segment as it arrives, e.g. "z%C3%BCrich". An accepted
// region's report must survive its JSON: the cache stores it so, and serves it back.
#include "cache/region.h"
#include "cache/report.h"
#include "common/json.h"
#include "fuzzcheck.h"

#include <QByteArray>
#include <QChar>
#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QList>
#include <QString>

#include <cstddef>
#include <cstdint>
#include <cstring>

using namespace Cachedash;

namespace {

bool isRegionCharacter(char32_t c)
{
    return QChar::isLetter(c) || QChar::isDigit(c) || c == U'-' || c == U'_' || c == U'.';
}

// What ends up in a log line and an error body: nothing invisible, no line breaks.
bool isShownAsIs(char32_t c)
{
    const QChar::Category category = QChar::category(c);
    return QChar::isPrint(c) && (c == U' ' || !QChar::isSpace(c)) && category != QChar::Mark_NonSpacing
        && category != QChar::Mark_SpacingCombining && category != QChar::Mark_Enclosing;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QByteArray raw = QByteArray::fromRawData(reinterpret_cast<const char *>(data), qsizetype(size));
    const QByteArray utf8 = QByteArray::fromPercentEncoding(raw);

    // Any text, escaped as a JSON string, reads back as the same text. (It starts with "x": Qt's
    // UTF-8 decoder, inside its JSON parser too, drops a byte order mark that opens a string.)
    const QString text = QLatin1Char('x') + QString::fromUtf8(utf8);
    const QJsonDocument parsed = QJsonDocument::fromJson('[' + jsonString(text) + ']');
    FUZZ_CHECK(parsed.isArray() && parsed.array().size() == 1);
    FUZZ_CHECK(parsed.array().at(0).toString() == text);

    QString why;
    const std::optional<QString> region = validateRegion(utf8, &why);
    FUZZ_CHECK(validateRegion(utf8, nullptr) == region);

    if (!region) {
        FUZZ_CHECK(why.endsWith(QLatin1String(RegionRule)));
        FUZZ_CHECK(why.size() > qsizetype(std::strlen(RegionRule)));
        for (char32_t c : why.toUcs4())
            FUZZ_CHECK(isShownAsIs(c));
        return 0;
    }

    FUZZ_CHECK(why.isEmpty());
    // Exactly the bytes that were sent, nothing dropped or replaced on the way.
    FUZZ_CHECK(region->toUtf8() == utf8);
    const QList<uint> codePoints = region->toUcs4();
    FUZZ_CHECK(codePoints.size() >= 1 && codePoints.size() <= MaxRegionLength);
    for (char32_t c : codePoints) {
        FUZZ_CHECK(isRegionCharacter(c));
        FUZZ_CHECK(isShownAsIs(c) && c != U' ');
        // In ASCII (what a Redis key pattern or a path could trip on) only [A-Za-z0-9._-].
        if (c < 0x80)
            FUZZ_CHECK((c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z') || (c >= U'0' && c <= U'9')
                || c == U'-' || c == U'_' || c == U'.');
    }
    // An accepted region is accepted again, unchanged.
    QString again;
    FUZZ_CHECK(validateRegion(region->toUtf8(), &again) == region);
    FUZZ_CHECK(again.isEmpty());
    // Its report, as stored, holds the region's very bytes and reads back as the same report.
    const Report report = Report::compute(*region, QDateTime::fromMSecsSinceEpoch(1764360544380, Qt::UTC));
    const QByteArray stored = report.toJson(false);
    FUZZ_CHECK(stored.contains(utf8));
    QString refused;
    const std::optional<Report> back = Report::fromJson(stored, *region, &refused);
    FUZZ_CHECK(back && *back == report);
    return 0;
}
