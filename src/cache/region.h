// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

#include <QByteArray>
#include <QString>

#include <optional>

namespace Cachedash {

// What a region may be: 1 to 64 code points, each a letter (any script), a digit, '-', '_' or '.'.
constexpr int MaxRegionLength = 64;
extern const char RegionRule[];

// Validates a region taken from a request path, after percent-decoding: raw bytes that must be
// UTF-8. On refusal returns nothing and sets *why.
std::optional<QString> validateRegion(const QByteArray &utf8, QString *why);

} // namespace Cachedash
