// SPDX-License-Identifier: GPL-3.0-or-later
#include "outcome.h"

#include <string>

namespace Cachedash {

namespace {
// The one table of names, in the enum's order.
constexpr std::array<const char *, AllOutcomes.size()> Names{
    "", "HIT", "STALE", "MISS", "BYPASS", "LIMITED", "ERROR", "SHADOW", "INVALIDATED", "NOT-CACHED"};
} // namespace

QByteArray outcomeName(Outcome outcome)
{
    const char *name = Names[size_t(outcome)];
    return QByteArray::fromRawData(name, qsizetype(std::char_traits<char>::length(name)));
}

} // namespace Cachedash
