// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include "api/outcome.h"

#include <QColor>

namespace Cachedash {

// The one table of the window's outcome colours: the log's tints, the filter buttons and the chart
// all take theirs from here. None has no colour (an invalid QColor).
QColor colorOf(Outcome outcome);
// A request still being answered.
QColor inFlightColor();
// Requests of other routes (/healthz, /metrics, ...) on the chart.
QColor otherColor();
// A request a limiter admitted (the limiter's entries, the comparison): whether it was then a hit
// or a miss is another matter, so not their colours.
QColor admittedColor();

} // namespace Cachedash
