// SPDX-License-Identifier: GPL-3.0-or-later
#include "outcomecolors.h"

#include <array>

namespace Cachedash {

QColor colorOf(Outcome outcome)
{
    // In the enum's order: None, Hit, Stale, Miss, Bypass, Limited, Error, Shadowed, Invalidated,
    // NotCached. One colour means one outcome everywhere: the log, the chart, the filters.
    static const std::array<QColor, AllOutcomes.size()> colors{QColor(), QColor(0x2e, 0x8b, 0x57),
        QColor(0x1f, 0x9e, 0xa8), QColor(0xf0, 0x9a, 0x1a), QColor(0x80, 0x60, 0xc0),
        QColor(0xd9, 0x48, 0x3b), QColor(0x9b, 0x1c, 0x1c), QColor(0xc0, 0x4f, 0xa0),
        QColor(0x8b, 0x5a, 0x2b), QColor(0xb5, 0x9b, 0x7a)};
    return colors[size_t(outcome)];
}

QColor otherColor()
{
    return QColor(0x8a, 0x8f, 0x98);
}

QColor admittedColor()
{
    return QColor(0x55, 0x5b, 0x66);
}

QColor inFlightColor()
{
    return QColor(0x3a, 0x7b, 0xd5);
}

} // namespace Cachedash
